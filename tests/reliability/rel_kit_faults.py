"""The upstream fault matrix: each fault class, what the client must see for it, and a runner
that checks one case end to end over loopback (answer, deadline, leaked tasks and sockets)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from rel_kit import (
    RawUpstream,
    Snapshot,
    drain_fake,
    openai_error,
    proxy,
    refused_url,
    settle,
    smart_reply,
    tagged,
    terminal_sse_error,
)

from optillm_core.testing import FakeUpstream, Fault

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
