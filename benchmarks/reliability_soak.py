"""The soak: mixed traffic against the proxy process for minutes, its RSS and open file
descriptors sampled every 5 s; they must stay flat (within 10 %) after a warm-up, and every
request must get an answer. Import after ``reliability_bench`` has set ``sys.path``."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import rel_kit as kit
import rel_kit_load as load_kit
from reliability_procs import fake_process, proc_resources, proxy_process

#: what the soak sends, with weights
MIX = (
    ("stream passthrough", 0.35),
    ("plain passthrough", 0.20),
    ("bon", 0.10),
    ("moa stream", 0.10),
    ("upstream fault", 0.15),
    ("client disconnect", 0.10),
)
#: answers that are right for every kind but an injected fault
CLEAN = ("200", "200 stream")


@dataclass
class SoakLog:
    """What the soak saw."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((k for k, _ in MIX), 0))
    outcomes: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def outcome(self, key: str) -> None:
        """Count one answer."""
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


def request_body(i: int, kind: str, rng: random.Random) -> dict[str, Any]:
    """The body of soak request ``i`` of ``kind`` (faults are tagged for the fake upstream)."""
    body: dict[str, Any] = {"model": "fake-model", "messages": kit.tagged(f"soak-{i}")}
    if kind == "upstream fault":
        name = rng.choice(sorted(load_kit.FAULTS_BY_NAME))
        body["messages"][0]["content"] += f" [fault:{name}]"
        body["stream"] = rng.random() < 0.5
    elif kind in ("stream passthrough", "moa stream", "client disconnect"):
        body["stream"] = True
    if kind == "bon":
        body["model"] = "bon-fake-model"
    elif kind == "moa stream":
        body["model"] = "moa-fake-model"
    return body


def classify(status: int, text: str, stream: bool) -> str | None:
    """What kind of answer this is; ``None`` for anything a client could not use."""
    if status == 200 and stream:
        events = kit.sse_events(text)
        if events and events[-1] == "[DONE]":
            return "200 stream"
        if events and '"error"' in events[-1]:
            return "200 stream, then an SSE error event"
        return None
    if status == 200:
        return "200"
    if status in (429, 502, 503, 504) and text.startswith('{"error"'):
        return f"{status} OpenAI error"
    return None


async def one(
    client: httpx2.AsyncClient, log: SoakLog, i: int, kind: str, rng: random.Random
) -> None:
    """Send soak request ``i`` and account its answer."""
    body = request_body(i, kind, rng)
    started = time.monotonic()
    try:
        if kind == "client disconnect":
            async with client.stream("POST", "/chat/completions", json=body) as response:
                async for _ in response.aiter_lines():
                    break
            log.outcome("client disconnected mid-stream")
            return
        response = await client.post("/chat/completions", json=body)
    except httpx2.HTTPError as exc:
        log.lost.append(f"soak-{i} {kind}: {type(exc).__name__}")
        return
    key = classify(response.status_code, response.text, bool(body.get("stream")))
    if key is None or (kind != "upstream fault" and key not in CLEAN):
        log.lost.append(f"soak-{i} {kind}: {response.status_code} {response.text[:120]!r}")
        return
    log.outcome(key)
    if kind != "upstream fault":
        log.latencies.append(time.monotonic() - started)


async def sample(pid: int, log: SoakLog, stop: anyio.Event) -> None:
    """The proxy's resources every 5 s until ``stop``."""
    started = time.monotonic()
    while not stop.is_set():
        log.samples.append({"t": round(time.monotonic() - started, 1), **proc_resources(pid)})
        with anyio.move_on_after(5):
            await stop.wait()


def drift(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Mean of the last fifth of the samples after warm-up over the mean of the first fifth,
    minus one, for RSS and open fds."""
    warm = [s for s in samples if s["t"] >= min(60.0, seconds * 0.2)]
    fifth = max(1, len(warm) // 5)
    first, last = warm[:fifth], warm[-fifth:]
    out: dict[str, Any] = {}
    for key, name in (("rss_kib", "rss"), ("fds", "fds")):
        if not first:
            out[f"{name}_drift"] = None
            continue
        before = sum(s[key] for s in first) / len(first)
        after = sum(s[key] for s in last) / len(last)
        out[f"{name}_drift"] = round(after / before - 1, 4)
        out[f"{name}_first_last"] = [round(before, 1), round(after, 1)]
    return out


async def soak(seconds: float, rate: float = 10.0) -> dict[str, Any]:
    """Mixed traffic (``MIX``) at about ``rate`` requests/s (Poisson arrivals) for
    ``seconds``, against a proxy process over a fake upstream process at 50 ms."""
    rng = random.Random(7)
    kinds, weights = [k for k, _ in MIX], [w for _, w in MIX]
    log = SoakLog()
    sent = 0
    with fake_process(0.05, chunk_delay=0.01) as upstream, proxy_process(upstream) as (url, pid):
        limits = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx2.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            stop = anyio.Event()
            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample, pid, log, stop)
                async with anyio.create_task_group() as requests:
                    while time.monotonic() - started < seconds:
                        kind = rng.choices(kinds, weights)[0]
                        log.counts[kind] += 1
                        requests.start_soon(one, client, log, sent, kind, rng)
                        sent += 1
                        await anyio.sleep(rng.expovariate(rate))
                await anyio.sleep(2)  # idle: whatever is left settles
                stop.set()
    return {
        "seconds": seconds,
        "target_rate_per_s": rate,
        "sent": sent,
        "mix": log.counts,
        "outcomes": log.outcomes,
        "lost": len(log.lost),
        "lost_examples": log.lost[:5],
        "p99_ms": round(kit.percentile(log.latencies, 0.99) * 1000, 1),
        "samples": len(log.samples),
        **drift(log.samples, seconds),
    }
