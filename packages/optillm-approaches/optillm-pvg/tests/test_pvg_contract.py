"""``pvg`` passes the approach contract."""

from __future__ import annotations

from typing import Any

from optillm_core.testing import ApproachContract
from optillm_pvg import plugin, prompts


def _reply(body: dict[str, Any]) -> str:
    """Structured replies: a readable verdict for the verifier, a rewrite, solutions."""
    system = body["messages"][0]["content"]
    if system == prompts.VERIFIER_INSTRUCTIONS:
        return "Score: 8\nExplanation: every step checks out."
    if system == prompts.REWRITE_INSTRUCTIONS:
        return "Compute the product of 6 and 7 and state it as a number."
    return "6 times 7 is 42. The answer is 42."


class TestPvgContract(ApproachContract):
    plugin = plugin
    slug = "pvg"
    reply = staticmethod(_reply)
