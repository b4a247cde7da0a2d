"""``genselect`` passes the approach contract."""

from __future__ import annotations

from typing import Any

from optillm_core.testing import ApproachContract, Reply
from optillm_genselect import plugin

_replies = iter(range(10**6))


def _reply(body: dict[str, Any]) -> str | Reply:
    """Distinct candidates (so the selection call really happens) and a clear verdict."""
    if body["messages"][0]["content"].startswith("You are an expert reviewer"):
        return "Candidate 2 is more careful.\nBEST CANDIDATE: 2"
    return f"Draft {next(_replies)}: 6 times 7 is 42."


class TestGenSelectContract(ApproachContract):
    plugin = plugin
    slug = "genselect"
    reply = staticmethod(_reply)
