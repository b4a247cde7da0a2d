"""``leap`` passes the approach contract."""

from __future__ import annotations

from typing import Any, ClassVar

from optillm_core.testing import ApproachContract
from optillm_leap import plugin


def _reply(body: dict[str, Any]) -> str:
    text = str(body["messages"][-1]["content"])
    return "<output>[]</output>" if "worked examples" in text else "42"


class TestLeapContract(ApproachContract):
    plugin = plugin
    slug = "leap"
    reply: ClassVar[Any] = staticmethod(_reply)
