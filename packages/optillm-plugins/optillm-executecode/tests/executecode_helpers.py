"""Helpers for the executecode tests: scripted replies and a run through the engine."""

from __future__ import annotations

from typing import Any

from optillm_core import ChatRequest, TraceEntry, build_engine
from optillm_core.testing import FakeUpstream
from optillm_core.testing.harness import make_settings, upstream_for
from optillm_executecode import plugin


def code_reply(code: str, prose: str = "Let me compute it.") -> str:
    """A model reply with one python block."""
    return f"{prose}\n\n```python\n{code}\n```\n"


async def run_executecode(
    fake: FakeUpstream, question: str = "What is 1 + 2 + ... + 100?", **settings: Any
) -> tuple[str, list[TraceEntry]]:
    """Run ``executecode`` through the engine; the answer and the request's sandbox entries."""
    extra = settings.pop("body", {})
    engine, _ = build_engine(
        make_settings(**settings), [plugin], autoload=False, upstream=upstream_for(fake)
    )
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": question}],
        "optillm_approach": "executecode",
        **extra,
    }
    outcome = await engine.run(ChatRequest.model_validate(body))
    result = await outcome.result.collect()
    runs = [e for e in outcome.state.trace.entries if e.kind == "sandbox"]
    return result.first_text, runs
