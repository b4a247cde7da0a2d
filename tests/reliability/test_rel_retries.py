"""Retry discipline: one retry layer (the proxy's own, ``upstream_max_retries``), used only
before the upstream's first response byte. Counts upstream calls for every fault class."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from rel_kit import RawUpstream, drain_fake, openai_error, proxy, tagged, terminal_sse_error
from rel_kit_faults import FaultStacks, fault_stacks

import optillm_bon.plugin as bon
import optillm_moa.plugin as moa
from optillm_core.testing import Fault

PLUGINS = [bon, moa]
NOW = {"retry-after": "0"}  # retry at once: the test counts calls, it does not wait


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def stacks(anyio_backend: str) -> AsyncIterator[FaultStacks]:
    async with fault_stacks(PLUGINS, upstream_max_retries=2) as served:
        yield served


def body(stream: bool = False, model: str = "fake-model") -> dict:
    return {"model": model, "messages": tagged("retry"), "stream": stream}


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault(429, message="busy", headers=NOW), 429),
        (Fault(500, headers=NOW), 502),
        (Fault(502, headers=NOW), 502),
        (Fault(503, headers=NOW), 502),
    ],
    ids=["429", "500", "502", "503"],
)
async def test_retryable_statuses_are_tried_three_times_then_not_again(
    stacks: FaultStacks, fault: Fault, status: int, stream: bool
) -> None:
    fake = stacks.fake
    drain_fake(fake)
    fake.fail_next(fault, times=3)
    response = await stacks.clients["fake"].post("/chat/completions", json=body(stream))
    assert response.status_code == status
    openai_error(response)
    assert fake.call_count == 3  # the first call and two retries
    assert response.headers["x-should-retry"] == "false"  # the proxy already retried


@pytest.mark.anyio
async def test_a_retry_before_the_first_byte_recovers_with_one_answer(
    stacks: FaultStacks,
) -> None:
    fake = stacks.fake
    drain_fake(fake)
    fake.fail_next(Fault(503, headers={"retry-after": "0.2"}), times=2)
    started = time.monotonic()
    response = await stacks.clients["fake"].post("/chat/completions", json=body(True))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.35  # the upstream's retry-after was honoured
    assert fake.call_count == 3
    assert response.text.count("data: [DONE]") == 1
    assert response.text.count('"role":"assistant"') == 1  # one answer, nothing duplicated


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 404, 422])
@pytest.mark.parametrize("stream", [False, True])
async def test_client_errors_are_never_retried(
    stacks: FaultStacks, status: int, stream: bool
) -> None:
    fake = stacks.fake
    drain_fake(fake)
    fake.fail_next(Fault(status), times=3)
    response = await stacks.clients["fake"].post("/chat/completions", json=body(stream))
    assert response.status_code == status
    assert fake.call_count == 1
    drain_fake(fake)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "stream"),
    [
        (Fault(drop=True), False),
        (Fault(drop=True), True),
        (Fault(stream_cut=True), False),
        (Fault(stream_cut=True), True),
        (Fault(malformed=True), False),
        (Fault(stall=30.0), True),
        (Fault(delay=30.0), False),
    ],
    ids=[
        "status-then-reset",
        "stream-status-then-reset",
        "half-a-body",
        "stream-without-done",
        "malformed",
        "stream-stall",
        "slower-than-the-deadline",
    ],
)
async def test_faults_after_the_first_byte_or_timeouts_are_not_retried(
    stacks: FaultStacks, fault: Fault, stream: bool
) -> None:
    fake = stacks.fake
    drain_fake(fake)
    fake.fail_next(fault, times=3)
    response = await stacks.clients["fake"].post("/chat/completions", json=body(stream))
    assert response.status_code in (200, 502, 504)
    assert fake.call_count == 1
    drain_fake(fake)


@pytest.mark.anyio
async def test_connection_errors_are_retried_and_mid_stream_resets_are_not(
    stacks: FaultStacks,
) -> None:
    # The backoff (about 0.5 s, then 1 s) needs a longer deadline than the shared stacks have.
    async with (
        RawUpstream("close") as closer,
        proxy(stacks.fake, PLUGINS, closer.url, upstream_max_retries=2) as (_, url),
        httpx2.AsyncClient(base_url=url, timeout=30) as client,
    ):
        response = await client.post("/chat/completions", json=body())
    assert response.status_code == 502
    assert openai_error(response)["code"] == "upstream_unreachable"
    assert closer.connections == 3

    for mode, stream in (("raw:reset_mid_stream", True), ("raw:reset_mid_body", False)):
        raw = stacks.raws[mode]
        before = raw.connections
        response = await stacks.clients[mode].post("/chat/completions", json=body(stream))
        assert response.status_code in (200, 502)
        assert raw.connections - before == 1, mode


@pytest.mark.anyio
async def test_a_multi_call_approach_is_not_rerun_after_its_stream_began(
    stacks: FaultStacks,
) -> None:
    fake = stacks.fake
    drain_fake(fake)
    fake.enqueue("draft one", "draft two", "draft three", "critique", Fault(stream_cut=True))
    response = await stacks.clients["fake"].post(
        "/chat/completions", json=body(True, "moa-fake-model")
    )
    assert terminal_sse_error(response)["code"] == "upstream_stream_cut"
    assert fake.call_count == 3  # drafts, critique, final: nothing retried or re-run

    drain_fake(fake)
    fake.fail_next(Fault(503, headers=NOW))
    response = await stacks.clients["fake"].post(
        "/chat/completions", json=body(False, "moa-fake-model")
    )
    assert response.status_code == 200
    assert fake.call_count == 4  # the failed drafts call was retried once, before any byte


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "calls", "error"),
    [
        (Fault(500, headers=NOW), 3, openai.InternalServerError),
        (Fault(429, headers=NOW), 3, openai.RateLimitError),
        (Fault(400), 1, openai.BadRequestError),
    ],
    ids=["500", "429", "400"],
)
async def test_an_sdk_with_default_retries_does_not_multiply_calls(
    stacks: FaultStacks, fault: Fault, calls: int, error: type[Exception]
) -> None:
    """openai-python retries 429/5xx twice by default; the proxy's ``x-should-retry: false``
    on errors it already retried keeps the total at one retry layer (3 calls, not 9)."""
    fake = stacks.fake
    drain_fake(fake)
    fake.fail_next(fault, times=9)
    async with openai.AsyncOpenAI(base_url=stacks.urls["fake"], api_key="k") as client:
        assert client.max_retries == 2
        with pytest.raises(error):
            await client.chat.completions.create(model="fake-model", messages=tagged("sdk"))
    assert fake.call_count == calls
    drain_fake(fake)
