"""Load with reconciliation (every request answered exactly once, the upstream's log matching
the answers), and the fake upstream process the benchmarks drive (request log, fault tags)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from rel_kit import TAG, openai_error, percentile, request_tag, tagged

from optillm_core.testing import FakeUpstream, Fault

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
