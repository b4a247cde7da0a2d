"""executecode passes the approach contract (each answer runs one real program)."""

from __future__ import annotations

from typing import Any

from optillm_core.testing import ApproachContract
from optillm_executecode import plugin


def _reply(body: dict[str, Any]) -> str:
    if "was run in a sandbox" in str(body["messages"][-1]["content"]):
        return "42"
    return "```python\nprint(6 * 7)\n```"


class TestExecuteCodeContract(ApproachContract):
    plugin = plugin
    slug = "executecode"
    reply = staticmethod(_reply)
