"""Upstream faults, end to end over loopback: every fault class, for a passthrough and for a
multi-call approach (moa), streaming and not, gives the client a correct OpenAI error (or a
terminal SSE error event once the stream has begun) within its deadline, and leaves no task,
socket or upstream request behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rel_kit_faults import FaultStacks, cases_for, fault_stacks, run_case

import optillm_bon.plugin as bon
import optillm_moa.plugin as moa

PLUGINS = [bon, moa]
MATRIX = [
    (approach, stream, case)
    for approach in ("none", "moa")
    for stream in (False, True)
    for case in cases_for(approach, stream)
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def stacks(anyio_backend: str) -> AsyncIterator[FaultStacks]:
    async with fault_stacks(PLUGINS) as served:
        yield served


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("approach", "stream", "case"),
    MATRIX,
    ids=[f"{a}-{'stream' if s else 'plain'}-{c.name}" for a, s, c in MATRIX],
)
async def test_fault_gives_an_openai_error_in_time_and_leaks_nothing(
    stacks: FaultStacks, approach: str, stream: bool, case
) -> None:
    result = await run_case(stacks, case, approach, stream)
    assert not result.problems, result
