"""``rto`` passes the approach contract."""

from __future__ import annotations

from typing import Any, ClassVar

from optillm_core.testing import ApproachContract
from optillm_rto import plugin


class TestRtoContract(ApproachContract):
    plugin = plugin
    slug = "rto"
    reply: ClassVar[Any] = "```python\nprint(6 * 7)\n```"
