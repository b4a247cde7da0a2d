"""Helpers for the z3 tests: scripted analyses and a run through the engine with its trace."""

from __future__ import annotations

from typing import Any

from optillm_core import TraceEntry
from optillm_core.testing import FakeUpstream, run_in_process
from optillm_z3 import plugin

QUESTION = "Two numbers add up to 10 and differ by 2. What are they?"
SMT_OK = """\
(declare-const x Int)
(declare-const y Int)
(assert (= (+ x y) 10))
(assert (= (- x y) 2))"""


def analysis(block: str, language: str = "smt2", applies: bool = True) -> str:
    """An analysis reply: reasoning, the marker, and one fenced block."""
    return (
        "These are two linear equations.\n"
        f"SOLVER_CAN_BE_APPLIED: {applies}\n\n```{language}\n{block}\n```\n"
    )


async def run_z3(
    fake: FakeUpstream, question: str = QUESTION, **settings: Any
) -> tuple[str, list[TraceEntry]]:
    """Run ``z3`` through the engine; the answer text and the request's sandbox entries."""
    outcome, result = await run_in_process(fake, [plugin], "z3", question, **settings)
    runs = [e for e in outcome.state.trace.entries if e.kind == "sandbox"]
    return result.first_text, runs
