"""Helpers for the coc tests: scripted programs and a run through the engine with its trace."""

from __future__ import annotations

from typing import Any

from optillm_coc import plugin
from optillm_core import ChatRequest, TraceEntry, build_engine
from optillm_core.testing import FakeUpstream
from optillm_core.testing.harness import make_settings, upstream_for


def program_reply(code: str, prose: str = "I add the numbers with a loop.") -> str:
    """A model reply: one sentence of approach, then the program."""
    return f"{prose}\n\n```python\n{code}\n```\n"


async def run_coc(
    fake: FakeUpstream, question: str = "What is 1 + 2 + ... + 9?", **settings: Any
) -> tuple[str, list[TraceEntry]]:
    """Run ``coc`` through the engine; the answer text and the request's sandbox entries."""
    extra = settings.pop("body", {})
    engine, _ = build_engine(
        make_settings(**settings), [plugin], autoload=False, upstream=upstream_for(fake)
    )
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": question}],
        "optillm_approach": "coc",
        **extra,
    }
    outcome = await engine.run(ChatRequest.model_validate(body))
    result = await outcome.result.collect()
    runs = [e for e in outcome.state.trace.entries if e.kind == "sandbox"]
    return result.first_text, runs
