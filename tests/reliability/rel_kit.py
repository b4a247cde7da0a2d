"""Shared tools of the reliability suite (and of ``benchmarks/reliability_bench.py``).

Everything runs on loopback: a ``FakeUpstream`` served by uvicorn, the proxy served by uvicorn,
and a raw TCP upstream for faults the fake cannot make (a TCP reset in the middle of a stream,
a connection closed before any response byte). Every loop here is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2

from optillm_core.testing import FakeUpstream, Fault, make_app, serve_app

USER = [{"role": "user", "content": "hello"}]
TAG = re.compile(r"\[id:([A-Za-z0-9-]+)\]")


# -- replies -----------------------------------------------------------------------------


def tagged(request_id: str) -> list[dict[str, Any]]:
    """A one-turn conversation carrying ``request_id``, so every upstream call and every
    answer can be traced back to the client request that caused it."""
    return [{"role": "user", "content": f"Say something about [id:{request_id}] please."}]


def request_tag(body: dict[str, Any]) -> str | None:
    """The ``[id:…]`` tag in an upstream request body (the first one found)."""
    match = TAG.search(json.dumps(body.get("messages") or []))
    return match.group(1) if match else None


def smart_reply() -> Callable[[dict[str, Any]], str]:
    """A reply function for ``FakeUpstream`` that serves multi-call approaches: judge prompts
    get a score, everything else gets a distinct answer that repeats the request's tag (so bon
    rates distinct candidates and every answer names its request)."""
    counter = itertools.count(1)

    def reply(body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages") or [])
        if "Score the assistant reply" in text:
            return "7"
        tag = request_tag(body)
        mark = f"[id:{tag}]" if tag else ""
        return f"answer {mark} one two three four five six seven eight variant {next(counter)}"

    return reply


# -- resources -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Resources of this process: asyncio tasks, open fds, open sockets, RSS (KiB)."""

    tasks: int
    fds: int
    sockets: int
    rss_kib: int

    @classmethod
    def take(cls) -> Snapshot:
        """Measure now (call from inside the event loop)."""
        return cls(len(asyncio.all_tasks()), *fd_counts(os.getpid()), rss_kib(os.getpid()))


def fd_counts(pid: int) -> tuple[int, int]:
    """(open fds, open sockets) of a process, from ``/proc/<pid>/fd``."""
    fds = sockets = 0
    base = f"/proc/{pid}/fd"
    for name in os.listdir(base):
        try:
            target = os.readlink(f"{base}/{name}")
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def settle(
    fake: FakeUpstream, baseline: Snapshot | None = None, within: float = 3.0
) -> float:
    """Wait until the fake has nothing in flight (and, given a baseline, until the task count
    is back to it); return how long that took. Never waits more than ``within`` seconds."""
    started = time.monotonic()
    deadline = started + within
    while time.monotonic() < deadline:
        tasks_ok = baseline is None or len(asyncio.all_tasks()) <= baseline.tasks
        if fake.in_flight == 0 and tasks_ok:
            break
        await anyio.sleep(0.01)
    return time.monotonic() - started


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


# -- responses -----------------------------------------------------------------------------


def sse_events(text: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (comments skipped)."""
    events = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                events.append(line[5:].strip())
    return events


def openai_error(response: httpx2.Response) -> dict[str, Any]:
    """The ``error`` object of an OpenAI error response (asserting its shape)."""
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in error["message"]
    return error


def terminal_sse_error(response: httpx2.Response) -> dict[str, Any]:
    """The error object of a stream that began (200) and ended with an SSE error event, with
    no ``[DONE]`` after it."""
    assert response.status_code == 200, response.text[:300]
    events = sse_events(response.text)
    assert events, "no SSE events"
    assert "[DONE]" not in events, events[-3:]
    last = json.loads(events[-1])
    error = last["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    return error


# -- a raw TCP upstream for connection-level faults ---------------------------------------


class RawUpstream:
    """A tiny HTTP/1.1 server that misbehaves at the TCP level.

    ``mode``: ``"close"`` reads the request and closes without a byte of response;
    ``"reset_mid_stream"`` sends a 200 SSE head and two chunks, then resets the connection
    (RST, SO_LINGER 0); ``"reset_mid_body"`` sends a 200 JSON head announcing 400 bytes and
    20 of them, then resets. ``connections`` counts accepted connections.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None
        self.url = ""

    async def __aenter__(self) -> RawUpstream:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await reader.readexactly(length)
            if self.mode == "reset_mid_stream":
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "fake-model",
                    "choices": [{"index": 0, "delta": {"content": "partial "}}],
                }
                data = f"data: {json.dumps(chunk)}\n\n".encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for _ in range(2):
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
                await asyncio.sleep(0.05)
            elif self.mode == "reset_mid_body":
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: 400\r\n\r\n" + b'{"id": "chatcmpl-x", "ch'
                )
                await writer.drain()
                await asyncio.sleep(0.05)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            sock = writer.get_extra_info("socket")
            if sock is not None and self.mode != "close":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def refused_url() -> str:
    """A loopback URL where nothing listens (the port was bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- stacks --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def proxy(
    fake: FakeUpstream, plugins: Iterable[object] = (), upstream_url: str = "", **settings: Any
) -> AsyncIterator[tuple[Any, str]]:
    """The proxy app over ``upstream_url`` (default: ``fake`` served on loopback), served on
    loopback itself; yields ``(app, proxy base URL)``."""
    if upstream_url:
        app = make_app(fake, list(plugins), base_url=upstream_url, **settings)
        async with serve_app(app) as url:
            yield app, url
        return
    async with fake.serve() as served:
        app = make_app(fake, list(plugins), base_url=served, **settings)
        async with serve_app(app) as url:
            yield app, url


def drain_fake(fake: FakeUpstream) -> None:
    """Forget queued replies and faults and the request log (between scenarios)."""
    fake._queue.clear()
    fake._faults.clear()
    fake.reset()


# -- the fault matrix ----------------------------------------------------------------------


@dataclass(frozen=True)
class FaultCase:
    """One upstream fault and what the client must see for it.

    ``where``: ``"fake"`` injects ``fault`` into the fake upstream; ``"refused"`` points the
    proxy at a closed port; ``"raw:<mode>"`` at a ``RawUpstream``. ``expect``: ``"status"``
    (that HTTP status, JSON error), ``"sse"`` (stream began, then a terminal SSE error event;
    only for streaming requests); ``status`` / ``codes``: the expected status and error codes.
    ``mid_stream``: for a streaming multi-call approach, inject into the final streamed call
    instead of the first call. ``deadline``: seconds the answer may take (before slack).
    """

    name: str
    fault: Fault | None = None
    where: str = "fake"
    status: int = 502
    codes: tuple[str, ...] = ()
    message: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    mid_stream: bool = False
    deadline: float = 0.0
    stream_only: bool = False
    plain_only: bool = False
    passthrough_only: bool = False


IDLE_TIMEOUT = 0.4
REQUEST_TIMEOUT = 0.8

FAULT_CASES: tuple[FaultCase, ...] = (
    *(
        FaultCase(
            f"upstream {status}",
            Fault(status, message=f"upstream refuses ({status})"),
            status=status,
            codes=(f"upstream_{status}",),
            message=f"upstream refuses ({status})",
            headers=(("x-should-retry", "false"),),
        )
        for status in (400, 401, 404, 422)
    ),
    FaultCase(
        "upstream 429 + retry-after",
        Fault(429, message="slow down", headers={"retry-after": "7"}),
        status=429,
        codes=("upstream_429",),
        message="slow down",
        headers=(("retry-after", "7"),),
    ),
    *(
        FaultCase(
            f"upstream {status}",
            Fault(status),
            status=502,
            codes=("upstream_unavailable",),
            headers=(("x-should-retry", "false"),),
        )
        for status in (500, 502, 503)
    ),
    FaultCase("connection refused", where="refused", codes=("upstream_unreachable",)),
    FaultCase(
        "closed before any response byte", where="raw:close", codes=("upstream_unreachable",)
    ),
    FaultCase(
        "reset mid-body (200, half a body)",
        Fault(stream_cut=True),
        codes=("upstream_connection_lost",),
        plain_only=True,
    ),
    FaultCase(
        "reset after the status line",
        Fault(drop=True),
        codes=("upstream_connection_lost",),
    ),
    FaultCase(
        "TCP reset mid-stream",
        where="raw:reset_mid_stream",
        codes=("upstream_connection_lost",),
        stream_only=True,
        passthrough_only=True,
        mid_stream=True,
    ),
    FaultCase(
        "TCP reset mid-body",
        where="raw:reset_mid_body",
        codes=("upstream_connection_lost",),
        passthrough_only=True,
    ),
    FaultCase(
        "malformed JSON",
        Fault(malformed=True),
        codes=("upstream_bad_response", "upstream_stream_cut"),
    ),
    FaultCase(
        "stream stops without [DONE]",
        Fault(stream_cut=True),
        codes=("upstream_stream_cut",),
        stream_only=True,
        mid_stream=True,
    ),
    FaultCase(
        "stream stalls past the idle timeout",
        Fault(stall=30.0),
        codes=("upstream_idle_timeout",),
        stream_only=True,
        mid_stream=True,
        deadline=IDLE_TIMEOUT,
    ),
    FaultCase(
        "upstream slower than the request deadline",
        Fault(delay=30.0),
        status=504,
        codes=("request_timeout", "upstream_timeout"),  # a stream's idle timeout may come first
        deadline=REQUEST_TIMEOUT,
    ),
)


def cases_for(approach: str, stream: bool) -> list[FaultCase]:
    """The fault cases that apply to an approach and streaming mode."""
    return [
        case
        for case in FAULT_CASES
        if (not case.stream_only or stream)
        and (not case.plain_only or not stream)
        and (approach == "none" or not case.passthrough_only)
    ]


@dataclass
class CaseResult:
    """What one fault case produced."""

    case: str
    approach: str
    stream: bool
    status: int
    code: str | None
    seconds: float
    settle_seconds: float
    upstream_calls: int
    leaked_tasks: int
    leaked_sockets: int
    problems: list[str] = field(default_factory=list)


@dataclass
class FaultStacks:
    """The proxies one fault run needs: over the fake, over a refused port, over raw
    upstreams; all with the same deadlines."""

    fake: FakeUpstream
    urls: dict[str, str]
    clients: dict[str, httpx2.AsyncClient]
    raws: dict[str, RawUpstream]


MODELS = {"none": "fake-model", "moa": "moa-fake-model", "bon": "bon-fake-model"}


@contextlib.asynccontextmanager
async def fault_stacks(plugins: Iterable[object], **settings: Any) -> AsyncIterator[FaultStacks]:
    """Serve everything the fault matrix needs; ``settings`` go to every proxy."""
    fake = FakeUpstream(smart_reply())
    options = {
        "upstream_idle_timeout": IDLE_TIMEOUT,
        "request_timeout": REQUEST_TIMEOUT,
        "keepalive_interval": 0,
        **settings,
    }
    plugins = list(plugins)
    async with contextlib.AsyncExitStack() as stack:
        urls, raws = {}, {}
        _, urls["fake"] = await stack.enter_async_context(proxy(fake, plugins, **options))
        _, urls["refused"] = await stack.enter_async_context(
            proxy(fake, plugins, upstream_url=refused_url(), **options)
        )
        for mode in ("close", "reset_mid_stream", "reset_mid_body"):
            raw = raws[f"raw:{mode}"] = await stack.enter_async_context(RawUpstream(mode))
            _, urls[f"raw:{mode}"] = await stack.enter_async_context(
                proxy(fake, plugins, upstream_url=raw.url, **options)
            )
        clients = {
            where: await stack.enter_async_context(httpx2.AsyncClient(base_url=url, timeout=30))
            for where, url in urls.items()
        }
        yield FaultStacks(fake, urls, clients, raws)


def inject(fake: FakeUpstream, case: FaultCase, approach: str, stream: bool) -> None:
    """Arm the fake for a case: the fault hits the first upstream call, or the final streamed
    call of a multi-call approach for mid-stream faults."""
    if case.fault is None:
        return
    if approach != "none" and stream and case.mid_stream:
        # moa: drafts (one call, n=3), critique, then the streamed final call.
        fake.enqueue("draft one", "draft two", "draft three", "critique", case.fault)
    else:
        fake.fail_next(case.fault)


async def run_case(
    stacks: FaultStacks, case: FaultCase, approach: str, stream: bool, slack: float = 2.0
) -> CaseResult:
    """Send one request under ``case`` and check what the client got; ``problems`` lists
    everything that was wrong (empty: the case passed)."""
    fake = stacks.fake
    drain_fake(fake)
    client = stacks.clients[case.where]
    body = {"model": MODELS[approach], "messages": tagged(f"{approach}-{stream}"), "stream": stream}
    problems: list[str] = []
    if case.where == "fake":  # a warm request first (pools, lazy imports), then the baseline
        warm = await client.post("/chat/completions", json={**body, "stream": False})
        assert warm.status_code == 200, warm.text
        drain_fake(fake)
    health = str(client.base_url).rstrip("/").removesuffix("/v1") + "/health"
    assert (await client.get(health)).status_code == 200  # the client's connection is open
    await settle(fake)
    baseline = Snapshot.take()
    inject(fake, case, approach, stream)
    started = time.monotonic()
    response = await client.post("/chat/completions", json=body)
    seconds = time.monotonic() - started
    settle_seconds = await settle(fake, baseline)
    await anyio.sleep(0.02)  # sockets closed by the client or the pools
    after = Snapshot.take()
    code: str | None = None
    try:
        if stream and case.mid_stream:
            error = terminal_sse_error(response)
        else:
            if response.status_code != case.status:
                problems.append(f"status {response.status_code}, wanted {case.status}")
            error = openai_error(response)
        code = error["code"]
        if case.codes and code not in case.codes:
            problems.append(f"code {code!r}, wanted one of {case.codes}")
        if case.message and case.message not in error["message"]:
            problems.append(f"message {error['message']!r} lacks {case.message!r}")
        for name, value in case.headers:
            if response.headers.get(name) != value:
                problems.append(f"header {name}={response.headers.get(name)!r}, wanted {value!r}")
    except (AssertionError, ValueError, KeyError) as exc:
        problems.append(f"not an OpenAI error: {exc!r}: {response.text[:300]!r}")
    if seconds > case.deadline + slack:
        problems.append(f"took {seconds:.2f} s (deadline {case.deadline} s + {slack} s slack)")
    if fake.in_flight:
        problems.append(f"{fake.in_flight} upstream requests still in flight")
    leaked_tasks = after.tasks - baseline.tasks
    leaked_sockets = after.sockets - baseline.sockets
    if leaked_tasks > 0:
        problems.append(f"{leaked_tasks} more asyncio tasks than before")
    if leaked_sockets > 0:
        problems.append(f"{leaked_sockets} more open sockets than before")
    return CaseResult(
        case.name,
        approach,
        stream,
        response.status_code,
        code,
        seconds,
        settle_seconds,
        fake.call_count,
        leaked_tasks,
        leaked_sockets,
        problems,
    )


# -- load --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a load run saw. ``lost``: ids with no well-formed answer (transport error, time
    out, wrong status, an answer naming another request); ``duplicated``: ids whose upstream
    work or answer happened more often than once per request."""

    label: str
    sent: int
    concurrency: int
    wall: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: dict[str, float] = field(default_factory=dict)
    rejected_latencies: list[float] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> list[str]:
        """Ids answered with 200."""
        return [rid for rid, status in self.answered.items() if status == 200]

    def p(self, q: float) -> float:
        """Latency quantile of the successful requests, in milliseconds."""
        return percentile(list(self.latencies.values()), q) * 1000

    def summary(self) -> dict[str, Any]:
        """The figures of this run."""
        return {
            "label": self.label,
            "sent": self.sent,
            "concurrency": self.concurrency,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "p50_ms": round(self.p(0.50), 1),
            "p99_ms": round(self.p(0.99), 1),
            "rejected_p99_ms": round(percentile(self.rejected_latencies, 0.99) * 1000, 1)
            if self.rejected_latencies
            else None,
            "requests_per_s": round(self.sent / self.wall, 1) if self.wall else None,
        }


async def load(
    url: str,
    model: str,
    count: int,
    concurrency: int,
    *,
    label: str = "",
    stream: bool = False,
    request_timeout: float = 60.0,
    limit_seconds: float = 600.0,
) -> LoadResult:
    """Send ``count`` requests at ``concurrency`` (each with its own id in ``x-request-id``
    and in the prompt); check every answer names its own request. Bounded by
    ``limit_seconds`` overall and ``request_timeout`` per request."""
    result = LoadResult(label or model, count, concurrency)
    all_ids = [f"{label or 'r'}-{i}" for i in range(count)]
    ids = iter(all_ids)
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one(client: httpx2.AsyncClient, rid: str) -> None:
        body = {"model": model, "messages": tagged(rid), "stream": stream}
        started = time.monotonic()
        try:
            response = await client.post(
                "/chat/completions", json=body, headers={"x-request-id": rid}
            )
        except httpx2.HTTPError as exc:
            result.lost.append(rid)
            result.problems.append(f"{rid}: {type(exc).__name__}")
            return
        seconds = time.monotonic() - started
        status = response.status_code
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if rid in result.answered:
            result.duplicated.append(rid)
        result.answered[rid] = status
        if response.headers.get("x-request-id") != rid:
            result.lost.append(rid)
            result.problems.append(f"{rid}: answered as {response.headers.get('x-request-id')}")
            return
        if status == 200:
            text = response.text
            found = set(TAG.findall(text))
            if found != {rid}:
                result.lost.append(rid)
                result.problems.append(f"{rid}: the answer names {sorted(found)}")
                return
            if stream and not text.rstrip().endswith("data: [DONE]"):
                result.lost.append(rid)
                result.problems.append(f"{rid}: the stream did not finish")
                return
            result.latencies[rid] = seconds
        elif status in (429, 503):
            try:
                openai_error(response)
            except (AssertionError, ValueError, KeyError) as exc:
                result.problems.append(f"{rid}: {status} is not an OpenAI error: {exc!r}")
            if "retry-after" not in response.headers:
                result.problems.append(f"{rid}: {status} without retry-after")
            result.rejected_latencies.append(seconds)
        else:
            result.lost.append(rid)
            result.problems.append(f"{rid}: status {status}: {response.text[:200]}")

    async def worker(client: httpx2.AsyncClient) -> None:
        for rid in ids:
            await one(client, rid)

    started = time.monotonic()
    async with httpx2.AsyncClient(base_url=url, timeout=request_timeout, limits=limits) as client:
        with anyio.move_on_after(limit_seconds):
            async with anyio.create_task_group() as tg:
                for _ in range(concurrency):
                    tg.start_soon(worker, client)
    result.wall = time.monotonic() - started
    lost = set(result.lost)
    missing = [rid for rid in all_ids if rid not in result.answered and rid not in lost]
    if missing:
        result.lost += missing
        result.problems.append(f"{len(missing)} requests were never answered in time")
    return result


def reconcile(result: LoadResult, fake: FakeUpstream, calls_per_request: int) -> None:
    """Check the upstream's request log against the answers: each request answered with 200
    caused exactly ``calls_per_request`` upstream calls, a rejected one none, and the log holds
    nothing else. Adds what does not match to ``result.duplicated`` / ``result.lost``."""
    per_id: dict[str, int] = {}
    for record in fake.requests:
        tag = request_tag(record.body) or "?"
        per_id[tag] = per_id.get(tag, 0) + 1
    for rid, status in result.answered.items():
        wanted = calls_per_request if status == 200 else 0
        seen = per_id.pop(rid, 0)
        if seen > wanted:
            result.duplicated.append(rid)
            result.problems.append(f"{rid}: {seen} upstream calls, wanted {wanted}")
        elif seen < wanted:
            result.lost.append(rid)
            result.problems.append(f"{rid}: {seen} upstream calls, wanted {wanted}")
    for tag, seen in per_id.items():
        if tag.startswith(result.label):
            result.duplicated.append(tag)
            result.problems.append(f"{tag}: {seen} upstream calls for an unanswered request")


# -- event-loop health ---------------------------------------------------------------------

CPU_PROGRAM = "total = 0\nfor i in range({n}):\n    total += i * i\nprint(total)\n"
PII_TEXT = " ".join(
    f"My name is Alice Walker {i}, mail alice{i}@example.com, call +1 415 555 {1000 + i:04d}, "
    f"card 4111 1111 1111 1111, from 10.0.{i % 250}.7."
    for i in range(30)
)


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@dataclass
class LoopFigures:
    """Loop lag and ``/health`` latency while one component was busy."""

    component: str
    busy_seconds: float
    health_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """The figures of this measurement."""
        return {
            "component": self.component,
            "busy_s": round(self.busy_seconds, 2),
            "health_probes": len(self.health_ms),
            "health_p50_ms": round(percentile(self.health_ms, 0.5), 1),
            "health_p99_ms": round(percentile(self.health_ms, 0.99), 1),
            "health_max_ms": round(max(self.health_ms, default=float("nan")), 1),
            "loop_lag_p99_ms": round(percentile(self.lag_ms, 0.99), 1),
            "loop_lag_max_ms": round(max(self.lag_ms, default=float("nan")), 1),
            "note": self.note,
        }


async def measure_loop(
    url: str, component: str, busy: Callable[[], Any], note: str = ""
) -> LoopFigures:
    """Probe ``GET /health`` every 20 ms and the loop's lag every 5 ms while ``busy()`` runs in
    the same event loop; bounded by ``busy`` itself (callers bound it)."""
    figures = LoopFigures(component, 0.0, note=note)
    done = anyio.Event()
    health = url.rstrip("/").removesuffix("/v1") + "/health"

    async def monitor() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.005)
            figures.lag_ms.append((time.perf_counter() - started - 0.005) * 1000)

    async def probe(client: httpx2.AsyncClient) -> None:
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get(health)
            assert response.status_code == 200
            figures.health_ms.append((time.perf_counter() - started) * 1000)
            await anyio.sleep(0.02)

    async with httpx2.AsyncClient(timeout=10) as client:
        await client.get(health)  # the probe's connection is open before the work starts
        async with anyio.create_task_group() as tg:
            tg.start_soon(monitor)
            tg.start_soon(probe, client)
            started = time.monotonic()
            try:
                await busy()
            finally:
                figures.busy_seconds = time.monotonic() - started
                done.set()
    return figures


async def busy_sandbox(seconds_of_cpu: float = 1.2, runs: int = 2) -> None:
    """``runs`` CPU-bound programs in the code sandbox at once (about ``seconds_of_cpu`` each)."""
    from optillm_core.sandbox import Sandbox, SandboxLimits, SandboxOptions

    sandbox = Sandbox(
        SandboxLimits(timeout=30.0, cpu_seconds=30),
        SandboxOptions(allow_no_network_isolation=True),
    )
    code = CPU_PROGRAM.format(n=int(seconds_of_cpu * 8_000_000))

    async def one() -> None:
        result = await sandbox.run(code)
        assert result.ok, result.stderr[-500:]

    async with anyio.create_task_group() as tg:
        for _ in range(runs):
            tg.start_soon(one)


async def busy_requests(url: str, model: str, text: str, count: int, **extra: Any) -> None:
    """``count`` concurrent chat requests for ``model`` that must all succeed."""
    async with httpx2.AsyncClient(base_url=url, timeout=120) as client:

        async def one(i: int) -> None:
            body = {"model": model, "messages": [{"role": "user", "content": f"{i} {text}"}]}
            response = await client.post("/chat/completions", json={**body, **extra})
            assert response.status_code == 200, response.text[:500]

        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, i)


async def loop_health(budget: float = 100.0) -> list[LoopFigures]:
    """Measure the loop while the sandbox, presidio (``optillm_privacy``) and the local engine
    (``optillm_local``) are busy; a component that cannot be imported here is recorded as not
    measured (``busy_seconds`` 0 and a note), never silently left out."""
    from optillm_core.server.runner import tune_interpreter

    previous = sys.getswitchinterval()
    tune_interpreter()  # as ``optillm serve`` does
    try:
        return await _loop_health()
    finally:
        sys.setswitchinterval(previous)


async def _loop_health() -> list[LoopFigures]:
    out: list[LoopFigures] = []
    fake = FakeUpstream("the answer")
    async with proxy(fake, keepalive_interval=0) as (_, url):
        out.append(await measure_loop(url, "sandbox", busy_sandbox, "2 CPU-bound programs"))
    if importable("optillm_privacy"):
        import optillm_privacy.plugin as privacy

        async with proxy(fake, [privacy], keepalive_interval=0) as (_, url):
            out.append(
                await measure_loop(
                    url,
                    "presidio",
                    lambda: busy_requests(url, "privacy-fake-model", PII_TEXT, 8),
                    "8 concurrent privacy requests (4 KB of PII each); the first builds the analyzer",
                )
            )
    else:
        out.append(
            LoopFigures("presidio", 0.0, note="not measured: optillm_privacy not importable")
        )
    if importable("optillm_local") and importable("torch"):
        out.append(await _loop_health_local())
    else:
        out.append(
            LoopFigures("local engine", 0.0, note="not measured: optillm_local not importable")
        )
    return out


async def _loop_health_local() -> LoopFigures:
    """The local engine (a tiny random-weight model) generating while ``/health`` is probed."""
    import tempfile

    from optillm_core.server.app import create_app
    from optillm_core.testing import make_settings
    from optillm_local import LocalConfig, LocalUpstream
    from optillm_local.testing import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="optillm-rel-tiny-") as folder:
        tiny = build_tiny_model(__import__("pathlib").Path(folder))
        upstream = LocalUpstream(LocalConfig(), {})
        app = create_app(make_settings(keepalive_interval=0), [], autoload=False, upstream=upstream)
        async with serve_app(app) as url:
            model = str(tiny.path)
            await busy_requests(url, model, "warm up", 1, max_tokens=4)
            return await measure_loop(
                url,
                "local engine",
                lambda: busy_requests(url, model, "hello world", 6, max_tokens=48, n=2),
                "6 concurrent requests, 48 tokens, n=2, tiny random-weight model",
            )


# -- disconnects -------------------------------------------------------------------------

LONG = " ".join(f"word{i}" for i in range(400))
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


async def wait_for(condition: Callable[[], bool], within: float) -> bool:
    """Poll ``condition`` every 5 ms for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await anyio.sleep(0.005)
    return condition()


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
        for kind in DISCONNECT_KINDS:
            await disconnect_once(client, fake, kind, -1)
        await anyio.sleep(0.1)
        figures.before = Snapshot.take()
        recorded = metrics.disconnects
        for i in range(repetitions):
            for kind in DISCONNECT_KINDS:
                figures.waits.append(await disconnect_once(client, fake, kind, i))
        await wait_for(lambda: metrics.disconnects >= recorded + 3 * repetitions, 2.0)
        figures.disconnects_recorded = metrics.disconnects - recorded
        await wait_for(lambda: len(asyncio.all_tasks()) <= figures.before.tasks, 2.0)
        await anyio.sleep(0.05)
        figures.after = Snapshot.take()
    return figures


# -- graceful shutdown -------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


# -- a fake upstream process for the benchmarks --------------------------------------------

FAULTS_BY_NAME: dict[str, Fault] = {
    "429": Fault(429, message="slow down", headers={"retry-after": "1"}),
    "500": Fault(500),
    "503": Fault(503),
    "cut": Fault(stream_cut=True),
    "malformed": Fault(malformed=True),
    "drop": Fault(drop=True),
}
FAULT_TAG = re.compile(r"\[fault:([a-z0-9]+)\]")


def fault_router(fake: FakeUpstream) -> Callable[..., Any]:
    """``fake`` as an ASGI app that also serves ``GET /__log`` (the request tags, in order, and
    the in-flight count) and ``POST /__reset``, and that applies a ``[fault:NAME]`` tag found
    in a chat request to that very request (see ``FAULTS_BY_NAME``)."""

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await fake(scope, receive, send)
            return
        path = scope["path"]
        if path in ("/__log", "/__reset"):
            if path == "/__reset":
                fake.reset()
            payload = {
                "tags": [request_tag(record.body) for record in fake.requests],
                "in_flight": fake.in_flight,
                "max_in_flight": fake.max_in_flight,
            }
            data = json.dumps(payload).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": data})
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        match = FAULT_TAG.search(raw.decode("utf-8", "replace"))
        if match and match.group(1) in FAULTS_BY_NAME:
            fake.fail_next(FAULTS_BY_NAME[match.group(1)])
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return dict(await receive())

        await fake._dispatch(scope, replay, send, in_process=False)

    return app
