"""Request lifecycles at the edges: client disconnects (repeated, with resources measured) and
a SIGTERM while requests are in flight (the proxy as a real process)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from rel_kit import Snapshot, free_port, percentile, proxy, tagged, wait_for

from optillm_core.testing import FakeUpstream

# -- disconnects -------------------------------------------------------------------------

LONG = " ".join(f"word{i}" for i in range(400))
#: disconnects of each shape before the baseline is taken
WARM_UP = 5
DISCONNECT_KINDS = ("plain-approach", "stream-passthrough", "stream-approach")
DISCONNECT_MODELS = {
    "plain-approach": "moa-fake-model",
    "stream-passthrough": "fake-model",
    "stream-approach": "moa-fake-model",
}


def slow_reply(body: dict[str, Any]) -> Any:
    """Non-streaming calls of a ``slow`` request take 30 s; streams are long (paced by the
    fake's chunk delay); everything else answers at once."""
    from optillm_core.testing import Reply

    text = json.dumps(body.get("messages"))
    if "[id:slow" in text and not body.get("stream"):
        return Reply(LONG, latency=30.0)
    return Reply(LONG if body.get("stream") else "a short draft")


async def disconnect_once(
    client: httpx2.AsyncClient, fake: FakeUpstream, kind: str, i: int
) -> float:
    """One request that the client abandons mid-way (three moa draft calls in flight, or the
    answer's stream begun); returns how long the upstream then took to see every call of the
    request end (at most 1 s is accepted; the wait stops there)."""
    body: dict[str, Any] = {"model": DISCONNECT_MODELS[kind], "stream": kind != "plain-approach"}
    if kind == "plain-approach":
        body["messages"] = tagged(f"slow-{i}")
        with anyio.CancelScope() as scope:

            async def request() -> None:
                await client.post("/chat/completions", json=body)

            async with anyio.create_task_group() as tg:
                tg.start_soon(request)
                assert await wait_for(lambda: fake.in_flight >= 3, 5.0), fake.in_flight
                scope.cancel()  # the client goes away with three draft calls in flight
    else:
        body["messages"] = tagged(f"stream-{i}")
        async with client.stream("POST", "/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if "word" in line:  # the answer's stream has begun
                    break
    started = time.monotonic()
    assert await wait_for(lambda: fake.in_flight == 0, 1.0), (
        f"{fake.in_flight} upstream calls still running 1 s after the disconnect ({kind})"
    )
    return time.monotonic() - started


@dataclass
class DisconnectFigures:
    """What a run of disconnect repetitions measured."""

    repetitions: int
    waits: list[float] = field(default_factory=list)
    before: Snapshot | None = None
    after: Snapshot | None = None
    disconnects_recorded: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures of the run."""
        assert self.before is not None and self.after is not None
        return {
            "repetitions_per_shape": self.repetitions,
            "disconnects": len(self.waits),
            "recorded_by_proxy": self.disconnects_recorded,
            "upstream_abort_p99_ms": round(percentile(self.waits, 0.99) * 1000, 1),
            "upstream_abort_max_ms": round(max(self.waits) * 1000, 1),
            "tasks_delta": self.after.tasks - self.before.tasks,
            "sockets_delta": self.after.sockets - self.before.sockets,
            "rss_delta_kib": self.after.rss_kib - self.before.rss_kib,
        }


async def disconnect_run(repetitions: int) -> DisconnectFigures:
    """``repetitions`` disconnects of each shape against a fresh proxy (after one warm-up of
    each), with this process's resources measured before and after."""
    import optillm_moa.plugin as moa

    fake = FakeUpstream(slow_reply, supports_n=False, stream_chunk_delay=0.05)
    figures = DisconnectFigures(repetitions)
    async with (
        proxy(fake, [moa], keepalive_interval=0) as (app, url),
        httpx2.AsyncClient(base_url=url, timeout=30) as client,
    ):
        metrics = app.state.server.metrics
        for i in range(WARM_UP):  # caches and allocator arenas fill first: not a leak
            for kind in DISCONNECT_KINDS:
                await disconnect_once(client, fake, kind, -1 - i)
        fake.requests.clear()
        gc.collect()
        await anyio.sleep(0.1)
        figures.before = Snapshot.take()
        recorded = metrics.disconnects
        for i in range(repetitions):
            for kind in DISCONNECT_KINDS:
                figures.waits.append(await disconnect_once(client, fake, kind, i))
            fake.requests.clear()  # the fake's own log is not the proxy's memory
        await wait_for(lambda: metrics.disconnects >= recorded + 3 * repetitions, 2.0)
        figures.disconnects_recorded = metrics.disconnects - recorded
        await wait_for(lambda: len(asyncio.all_tasks()) <= figures.before.tasks, 2.0)
        gc.collect()
        await anyio.sleep(0.05)
        figures.after = Snapshot.take()
    return figures


# -- graceful shutdown -------------------------------------------------------------------


def start_proxy_process(
    upstream: str, *args: str, env: dict[str, str] | None = None, stderr: Any = None
) -> tuple[Any, str]:
    """``python -m optillm_core`` over ``upstream`` on a free port, once it is ready;
    returns ``(process, base URL without /v1)``."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "optillm_core", "--base-url", upstream, "--port", str(port), *args],
        env=env if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        stdout=subprocess.DEVNULL,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("the proxy did not start")
        time.sleep(0.05)


@dataclass
class ShutdownFigures:
    """What a SIGTERM under load showed."""

    in_flight: int
    drain_grace: float
    drain_timeout: float
    exit_code: int | None = None
    not_ready_after: float = float("nan")
    exited_after: float = float("nan")
    statuses: dict[int, int] = field(default_factory=dict)
    refused_status: int = 0
    refused_code: str | None = None
    answers_ok: bool = False
    upstream_calls: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures of the run."""
        return {
            "in_flight_at_sigterm": self.in_flight,
            "completed_200": self.statuses.get(200, 0),
            "other_statuses": {str(k): v for k, v in self.statuses.items() if k != 200},
            "readiness_503_after_ms": round(self.not_ready_after * 1000, 1),
            "new_request_status": self.refused_status,
            "exit_code": self.exit_code,
            "exited_after_s": round(self.exited_after, 2),
            "drain_grace_s": self.drain_grace,
            "drain_timeout_s": self.drain_timeout,
        }


def sigterm_under_load(
    in_flight: int = 50, latency: float = 1.5, grace: float = 0.5, drain: float = 10.0
) -> ShutdownFigures:
    """Start a proxy process, put ``in_flight`` requests in flight (upstream ``latency``),
    send SIGTERM, and watch: readiness, a new request, the in-flight answers, the exit."""
    import signal
    import threading

    import httpx

    figures = ShutdownFigures(in_flight, grace, drain)
    fake = FakeUpstream(lambda body: f"answer {body['messages'][0]['content']}", latency=latency)
    results: dict[int, tuple[int, str]] = {}
    with fake.serve_in_thread() as upstream:
        process, base = start_proxy_process(
            upstream, "--drain-grace", str(grace), "--drain-timeout", str(drain)
        )
        try:

            def call(i: int) -> None:
                body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
                try:
                    response = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60)
                    results[i] = (response.status_code, response.text)
                except httpx.HTTPError as exc:
                    results[i] = (0, repr(exc))

            threads = [threading.Thread(target=call, args=(i,)) for i in range(in_flight)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 15
            while fake.in_flight < in_flight and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake.in_flight == in_flight, fake.in_flight
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with httpx.Client(base_url=base, timeout=5) as client:
                while client.get("/health/ready").status_code != 503:
                    if time.monotonic() - signalled > 5:
                        break
                    time.sleep(0.002)
                figures.not_ready_after = time.monotonic() - signalled
                late = {"model": "m", "messages": [{"role": "user", "content": "late"}]}
                refused = client.post("/v1/chat/completions", json=late)
                figures.refused_status = refused.status_code
                if refused.headers.get("content-type", "").startswith("application/json"):
                    figures.refused_code = refused.json().get("error", {}).get("code")
                    if not refused.headers.get("retry-after"):
                        figures.refused_code = "no retry-after"
            figures.exit_code = process.wait(timeout=grace + drain + 10)
            figures.exited_after = time.monotonic() - signalled
            for thread in threads:
                thread.join(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    for status, _ in results.values():
        figures.statuses[status] = figures.statuses.get(status, 0) + 1
    figures.answers_ok = sorted(results) == list(range(in_flight)) and all(
        f"answer q{i}" in results[i][1] for i in range(in_flight)
    )
    figures.upstream_calls = fake.call_count
    return figures
