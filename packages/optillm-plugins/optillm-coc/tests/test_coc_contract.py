"""coc passes the approach contract (each answer runs one real program in the sandbox)."""

from __future__ import annotations

from typing import Any

from optillm_coc import plugin
from optillm_core.testing import ApproachContract


def _reply(body: dict[str, Any]) -> str:
    return "Multiply.\n\n```python\nanswer = 6 * 7\n```"


class TestCocContract(ApproachContract):
    plugin = plugin
    slug = "coc"
    reply = staticmethod(_reply)
