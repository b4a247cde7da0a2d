"""Helpers for the executecode tests: scripted replies and a run through the engine."""

from __future__ import annotations

from typing import Any

from optillm_core import TraceEntry
from optillm_core.testing import FakeUpstream, run_in_process
from optillm_executecode import plugin


def code_reply(code: str, prose: str = "Let me compute it.") -> str:
    """A model reply with one python block."""
    return f"{prose}\n\n```python\n{code}\n```\n"


async def run_executecode(
    fake: FakeUpstream, question: str = "What is 1 + 2 + ... + 100?", **settings: Any
) -> tuple[str, list[TraceEntry]]:
    """Run ``executecode`` through the engine; the answer and the request's sandbox entries."""
    outcome, result = await run_in_process(fake, [plugin], "executecode", question, **settings)
    runs = [e for e in outcome.state.trace.entries if e.kind == "sandbox"]
    return result.first_text, runs
