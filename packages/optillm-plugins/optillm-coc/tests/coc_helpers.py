"""Helpers for the coc tests: scripted programs and a run through the engine with its trace."""

from __future__ import annotations

from typing import Any

from optillm_coc import plugin
from optillm_core import TraceEntry
from optillm_core.testing import FakeUpstream, run_in_process


def program_reply(code: str, prose: str = "I add the numbers with a loop.") -> str:
    """A model reply: one sentence of approach, then the program."""
    return f"{prose}\n\n```python\n{code}\n```\n"


async def run_coc(
    fake: FakeUpstream, question: str = "What is 1 + 2 + ... + 9?", **settings: Any
) -> tuple[str, list[TraceEntry]]:
    """Run ``coc`` through the engine; the answer text and the request's sandbox entries."""
    outcome, result = await run_in_process(fake, [plugin], "coc", question, **settings)
    runs = [e for e in outcome.state.trace.entries if e.kind == "sandbox"]
    return result.first_text, runs
