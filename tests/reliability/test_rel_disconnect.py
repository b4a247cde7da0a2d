"""Client disconnects cancel every upstream call of the request, every time.

Three shapes: a non-streaming multi-call approach (moa, three concurrent draft calls in flight),
a streaming passthrough, and a streaming approach (moa's streamed final call). After each
disconnect the upstream must see no request in flight within 1 s; over all repetitions the
proxy's tasks, sockets and memory must not grow. The default run repeats each shape 30 times;
the ``slow`` run 200 times.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import httpx2
import optillm_moa.plugin as moa
import pytest
from rel_kit import Snapshot, proxy, tagged

from optillm_core.testing import FakeUpstream, Reply

LONG = " ".join(f"word{i}" for i in range(400))
KINDS = ("plain-approach", "stream-passthrough", "stream-approach")
MODELS = {
    "plain-approach": "moa-fake-model",
    "stream-passthrough": "fake-model",
    "stream-approach": "moa-fake-model",
}


def slow_reply(body: dict) -> Reply:
    """Non-streaming calls of a ``slow`` request take 30 s; streams are long and paced by
    the fake's chunk delay; everything else answers at once."""
    text = json.dumps(body.get("messages"))
    if "[id:slow" in text and not body.get("stream"):
        return Reply(LONG, latency=30.0)
    return Reply(LONG if body.get("stream") else "a short draft")


@dataclass
class Run:
    fake: FakeUpstream
    app: object
    client: httpx2.AsyncClient
    waits: list[float] = field(default_factory=list)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def run(anyio_backend: str) -> AsyncIterator[Run]:
    fake = FakeUpstream(slow_reply, supports_n=False, stream_chunk_delay=0.05)
    async with (
        proxy(fake, [moa], keepalive_interval=0) as (app, url),
        httpx2.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield Run(fake, app, client)


async def wait_for(condition, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await anyio.sleep(0.005)
    return condition()


async def disconnect_once(run: Run, kind: str, i: int) -> float:
    """One request that the client abandons mid-way; returns how long the upstream took to
    see every call of it end."""
    fake = run.fake
    body = {"model": MODELS[kind], "stream": kind != "plain-approach"}
    if kind == "plain-approach":
        body["messages"] = tagged(f"slow-{i}")
        with anyio.CancelScope() as scope:

            async def request() -> None:
                await run.client.post("/chat/completions", json=body)

            async with anyio.create_task_group() as tg:
                tg.start_soon(request)
                assert await wait_for(lambda: fake.in_flight >= 3, 5.0), fake.in_flight
                scope.cancel()  # the client goes away with three draft calls in flight
    else:
        body["messages"] = tagged(f"stream-{i}")
        async with run.client.stream("POST", "/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if "word" in line:  # the answer's stream has begun
                    break
    started = time.monotonic()
    assert await wait_for(lambda: fake.in_flight == 0, 1.0), (
        f"{fake.in_flight} upstream calls still running 1 s after the disconnect ({kind})"
    )
    return time.monotonic() - started


async def repeat(run: Run, repetitions: int) -> None:
    metrics = run.app.state.server.metrics
    for kind in KINDS:  # warm up every path first
        await disconnect_once(run, kind, -1)
    await wait_for(lambda: False, 0.1)
    before = Snapshot.take()
    disconnects = metrics.disconnects
    for i in range(repetitions):
        for kind in KINDS:
            run.waits.append(await disconnect_once(run, kind, i))
    assert await wait_for(lambda: metrics.disconnects == disconnects + 3 * repetitions, 2.0), (
        metrics.disconnects - disconnects
    )
    assert await wait_for(lambda: len(asyncio.all_tasks()) <= before.tasks, 2.0)
    await anyio.sleep(0.05)
    after = Snapshot.take()
    assert after.tasks <= before.tasks, (before, after)
    assert after.sockets <= before.sockets + 2, (before, after)
    # memory: a leak of even 1 KiB per request would show over hundreds of requests
    assert after.rss_kib - before.rss_kib < 12 * 1024, (before, after)
    assert max(run.waits) <= 1.0


@pytest.mark.anyio
async def test_disconnects_cancel_upstream_calls_30_times(run: Run) -> None:
    await repeat(run, 30)


@pytest.mark.slow
@pytest.mark.anyio
async def test_disconnects_cancel_upstream_calls_200_times(run: Run) -> None:
    await repeat(run, 200)
