"""Reliability figures at full size: upstream faults, retry discipline, disconnects, load,
overload, graceful shutdown, event-loop health, fuzzing and (on request) a soak. Writes the
figures to ``docs/reliability-figures.json`` (merged with earlier sections) and regenerates
``docs/reliability.md`` from them with ``reliability_report.py``.

    python benchmarks/reliability_bench.py                        # every section but the soak
    python benchmarks/reliability_bench.py --sections load,faults
    python benchmarks/reliability_bench.py --sections soak --soak-seconds 600
    python benchmarks/reliability_bench.py --quick                # small sizes (smoke run)

Everything runs on 127.0.0.1. The load and soak sections run the fake upstream and the proxy
as separate processes (the proxy as ``python -m optillm_core``); the others run in this
process. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reliability"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rel_kit  # noqa: E402
import reliability_report  # noqa: E402

FIGURES = ROOT / "docs" / "reliability-figures.json"
DOC = ROOT / "docs" / "reliability.md"
SECTIONS = ("faults", "retries", "disconnects", "load", "shutdown", "loop", "fuzz")

FAKE_SERVER = """
import sys
sys.path.insert(0, sys.argv[3])
import uvicorn
from rel_kit import fault_router, smart_reply
from optillm_core.testing import FakeUpstream
fake = FakeUpstream(smart_reply(), latency=float(sys.argv[2]), stream_chunk_delay=float(sys.argv[4]))
uvicorn.run(fault_router(fake), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


# -- processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def fake_process(latency: float, chunk_delay: float = 0.0) -> Iterator[str]:
    """The fake upstream (with ``/__log``) in its own process; yields its ``/v1`` URL."""
    import httpx

    port = rel_kit.free_port()
    args = [sys.executable, "-c", FAKE_SERVER, str(port), str(latency)]
    args += [str(ROOT / "tests" / "reliability"), str(chunk_delay)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/__log", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the fake upstream did not start") from None
                time.sleep(0.05)
        yield f"{base}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def proxy_process(upstream: str, *args: str) -> Iterator[tuple[str, int]]:
    """The proxy as ``python -m optillm_core``; yields ``(base URL with /v1, pid)``."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **_offline_env()}
    process, base = rel_kit.start_proxy_process(
        upstream, "--log", "warning", "--keepalive-interval", "0", *args, env=env
    )
    try:
        yield f"{base}/v1", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _offline_env() -> dict[str, str]:
    keep = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "HOME")
    return {k: os.environ[k] for k in keep if k in os.environ}


def upstream_log(upstream: str, reset: bool = False) -> list[str | None]:
    """The tags of the requests the fake upstream process has seen."""
    import httpx

    base = upstream.removesuffix("/v1")
    response = (
        httpx.post(f"{base}/__reset", timeout=10)
        if reset
        else httpx.get(f"{base}/__log", timeout=30)
    )
    return list(response.json()["tags"])


class RemoteLog:
    """``FakeUpstream``-like view of a fake process's log, for ``rel_kit.reconcile``."""

    def __init__(self, tags: list[str | None]) -> None:
        self.requests = [
            type("Record", (), {"body": {"messages": [{"content": f"[id:{t}]"}]}})()
            for t in tags
            if t
        ]


def proc_resources(pid: int) -> dict[str, int]:
    """RSS (KiB), open fds and sockets of a process."""
    fds, sockets = rel_kit.fd_counts(pid)
    return {"rss_kib": rel_kit.rss_kib(pid), "fds": fds, "sockets": sockets}


# -- sections -----------------------------------------------------------------------------


async def section_faults() -> dict[str, Any]:
    """Every fault case of the matrix, for none and moa, streaming and not (in-process)."""
    import optillm_bon.plugin as bon
    import optillm_moa.plugin as moa

    rows = []
    async with rel_kit.fault_stacks([bon, moa]) as stacks:
        for approach in ("none", "moa"):
            for stream in (False, True):
                for case in rel_kit.cases_for(approach, stream):
                    result = await rel_kit.run_case(stacks, case, approach, stream)
                    rows.append(
                        {
                            "case": case.name,
                            "approach": approach,
                            "stream": stream,
                            "status": result.status,
                            "code": result.code,
                            "seconds": round(result.seconds, 3),
                            "deadline_s": case.deadline,
                            "upstream_settled_ms": round(result.settle_seconds * 1000, 1),
                            "leaked_tasks": max(0, result.leaked_tasks),
                            "leaked_sockets": max(0, result.leaked_sockets),
                            "ok": not result.problems,
                            "problems": result.problems,
                        }
                    )
    return {
        "cases": len(rows),
        "passed": sum(r["ok"] for r in rows),
        "leaked_tasks": sum(r["leaked_tasks"] for r in rows),
        "leaked_sockets": sum(r["leaked_sockets"] for r in rows),
        "idle_timeout_s": rel_kit.IDLE_TIMEOUT,
        "request_timeout_s": rel_kit.REQUEST_TIMEOUT,
        "rows": rows,
    }


async def section_retries() -> dict[str, Any]:
    """Upstream calls per fault class with ``upstream_max_retries=2`` (every attempt fails)."""
    import optillm_moa.plugin as moa
    from optillm_core.testing import Fault

    now = {"retry-after": "0"}
    classes = [
        ("429 + retry-after", Fault(429, headers=now), False),
        ("500", Fault(500, headers=now), False),
        ("502", Fault(502, headers=now), False),
        ("503", Fault(503, headers=now), True),
        ("400", Fault(400), False),
        ("401", Fault(401), True),
        ("404", Fault(404), False),
        ("422", Fault(422), False),
        ("reset after the status line", Fault(drop=True), False),
        ("half a body", Fault(stream_cut=True), False),
        ("stream without [DONE]", Fault(stream_cut=True), True),
        ("malformed JSON", Fault(malformed=True), False),
        ("stream stall (idle timeout)", Fault(stall=30.0), True),
        ("slower than the deadline", Fault(delay=30.0), False),
    ]
    rows = []
    async with rel_kit.fault_stacks([moa], upstream_max_retries=2) as stacks:
        client = stacks.clients["fake"]
        for name, fault, stream in classes:
            rel_kit.drain_fake(stacks.fake)
            stacks.fake.fail_next(fault, times=3)
            body = {"model": "fake-model", "messages": rel_kit.tagged("retry"), "stream": stream}
            response = await client.post("/chat/completions", json=body)
            rows.append(
                {
                    "fault": name,
                    "stream": stream,
                    "status": response.status_code,
                    "upstream_calls": stacks.fake.call_count,
                    "x_should_retry": response.headers.get("x-should-retry"),
                }
            )
        rel_kit.drain_fake(stacks.fake)
    async with (
        rel_kit.RawUpstream("close") as closer,
        rel_kit.proxy(stacks.fake, [], closer.url, upstream_max_retries=2) as (_, url),
        httpx2.AsyncClient(base_url=url, timeout=30) as client,
    ):
        body = {"model": "fake-model", "messages": rel_kit.tagged("conn")}
        response = await client.post("/chat/completions", json=body)
        rows.append(
            {
                "fault": "connection closed before any byte",
                "stream": False,
                "status": response.status_code,
                "upstream_calls": closer.connections,
                "x_should_retry": response.headers.get("x-should-retry"),
            }
        )
    return {"max_retries": 2, "rows": rows}


async def section_disconnects(repetitions: int) -> dict[str, Any]:
    """Disconnect repetitions of the three shapes (in-process)."""
    return (await rel_kit.disconnect_run(repetitions)).summary()


async def section_load(quick: bool) -> dict[str, Any]:
    """Passthrough and bon at high concurrency, then overload, against process pairs."""
    plain_n, bon_n = (300, 60) if quick else (2000, 300)
    out: dict[str, Any] = {"upstream_latency_ms": 50}
    with fake_process(0.05) as upstream, proxy_process(upstream) as (url, pid):
        await rel_kit.load(url, "fake-model", 64, 16, label="warm", limit_seconds=120)
        before = proc_resources(pid)
        upstream_log(upstream, reset=True)
        plain = await rel_kit.load(url, "fake-model", plain_n, 64, label="plain", limit_seconds=600)
        rel_kit.reconcile(plain, RemoteLog(upstream_log(upstream)), calls_per_request=1)
        upstream_log(upstream, reset=True)
        best = await rel_kit.load(url, "bon-fake-model", bon_n, 16, label="bon", limit_seconds=600)
        rel_kit.reconcile(best, RemoteLog(upstream_log(upstream)), calls_per_request=4)
        after = proc_resources(pid)
        out["passthrough"] = {**plain.summary(), "problems": plain.problems[:5]}
        out["bon"] = {**best.summary(), "problems": best.problems[:5]}
        out["proxy_before"], out["proxy_after"] = before, after
    limit, burst = 32, 96 if quick else 256
    with (
        fake_process(1.0) as upstream,
        proxy_process(upstream, "--max-concurrent-requests", str(limit)) as (url, pid),
    ):
        over = await rel_kit.load(
            url, "fake-model", burst, burst, label="over", request_timeout=30, limit_seconds=120
        )
        rel_kit.reconcile(over, RemoteLog(upstream_log(upstream)), calls_per_request=1)
        out["overload"] = {
            **over.summary(),
            "limit": limit,
            "upstream_latency_ms": 1000,
            "problems": over.problems[:5],
        }
    return out


def section_shutdown() -> dict[str, Any]:
    """SIGTERM with 50 requests in flight."""
    figures = rel_kit.sigterm_under_load(in_flight=50, latency=1.5, grace=0.5, drain=10.0)
    return {**figures.summary(), "answers_ok": figures.answers_ok}


async def section_loop() -> dict[str, Any]:
    """Loop lag and /health latency while the sandbox, presidio and the local engine work."""
    return {"components": [figures.summary() for figures in await rel_kit.loop_health()]}


def section_fuzz(examples: int) -> dict[str, Any]:
    """The fuzz tests with more examples (pytest in a subprocess)."""
    env = {**os.environ, "OPTILLM_FUZZ_EXAMPLES": str(examples)}
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "test_rel_fuzz.py"],
        cwd=ROOT / "tests" / "reliability",
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return {
        "examples_per_test": examples,
        "tests": 2,
        "bodies": 2 * examples,
        "passed": run.returncode == 0,
        "seconds": round(time.monotonic() - started, 1),
        "tail": run.stdout.strip().splitlines()[-1:] if run.stdout else [],
    }


# -- soak ---------------------------------------------------------------------------------

SOAK_MIX = (
    ("stream passthrough", 0.35),
    ("plain passthrough", 0.20),
    ("bon", 0.10),
    ("moa stream", 0.10),
    ("upstream fault", 0.15),
    ("client disconnect", 0.10),
)


async def soak(seconds: float, rate: float = 10.0) -> dict[str, Any]:
    """Mixed traffic at about ``rate`` requests/s for ``seconds``; the proxy's RSS and open
    fds are sampled every 5 s; drift compares the first and the last fifth after warm-up."""
    rng = random.Random(7)
    kinds = [k for k, _ in SOAK_MIX]
    weights = [w for _, w in SOAK_MIX]
    counts: dict[str, int] = dict.fromkeys(kinds, 0)
    outcomes: dict[str, int] = {}
    lost: list[str] = []
    latencies: list[float] = []
    samples: list[dict[str, Any]] = []
    with (
        fake_process(0.05, chunk_delay=0.01) as upstream,
        proxy_process(upstream) as (url, pid),
    ):
        limits = httpx2.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx2.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

            async def one(i: int, kind: str) -> None:
                rid = f"soak-{i}"
                body: dict[str, Any] = {"model": "fake-model", "messages": rel_kit.tagged(rid)}
                started = time.monotonic()
                try:
                    if kind == "client disconnect":
                        body["stream"] = True
                        async with client.stream("POST", "/chat/completions", json=body) as r:
                            async for _ in r.aiter_lines():
                                break
                        outcomes["disconnected"] = outcomes.get("disconnected", 0) + 1
                        return
                    if kind == "upstream fault":
                        name = rng.choice(sorted(rel_kit.FAULTS_BY_NAME))
                        body["messages"][0]["content"] += f" [fault:{name}]"
                        body["stream"] = rng.random() < 0.5
                    elif kind in ("stream passthrough", "moa stream"):
                        body["stream"] = True
                    if kind == "bon":
                        body["model"] = "bon-fake-model"
                    elif kind == "moa stream":
                        body["model"] = "moa-fake-model"
                    response = await client.post("/chat/completions", json=body)
                except httpx2.HTTPError as exc:
                    lost.append(f"{rid} {kind}: {type(exc).__name__}")
                    return
                status, text = response.status_code, response.text
                key: str | None = None
                if status == 200 and body.get("stream"):
                    events = rel_kit.sse_events(text)
                    if events and events[-1] == "[DONE]":
                        key = "200 stream"
                    elif events and '"error"' in events[-1]:
                        key = "200 stream, then an SSE error event"
                elif status == 200:
                    key = "200"
                elif status in (429, 502, 503, 504) and text.startswith('{"error"'):
                    key = f"{status} OpenAI error"
                expected = kind == "upstream fault" or key in ("200", "200 stream")
                if key is None or not expected:
                    lost.append(f"{rid} {kind}: {status} {text[:120]!r}")
                    return
                outcomes[key] = outcomes.get(key, 0) + 1
                if kind != "upstream fault":
                    latencies.append(time.monotonic() - started)

            async def sampler(stop: anyio.Event) -> None:
                started = time.monotonic()
                while not stop.is_set():
                    samples.append(
                        {"t": round(time.monotonic() - started, 1), **proc_resources(pid)}
                    )
                    with anyio.move_on_after(5):
                        await stop.wait()

            stop = anyio.Event()
            started = time.monotonic()
            sent = 0
            async with anyio.create_task_group() as tg:
                tg.start_soon(sampler, stop)
                async with anyio.create_task_group() as requests:
                    while time.monotonic() - started < seconds:
                        kind = rng.choices(kinds, weights)[0]
                        counts[kind] += 1
                        requests.start_soon(one, sent, kind)
                        sent += 1
                        await anyio.sleep(rng.expovariate(rate))
                await anyio.sleep(2)
                stop.set()
    warm = [s for s in samples if s["t"] >= min(60.0, seconds * 0.2)]
    fifth = max(1, len(warm) // 5)
    first, last = warm[:fifth], warm[-fifth:]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    drift = {
        key: round(mean(last, key) / mean(first, key) - 1, 4) if first and last else None
        for key in ("rss_kib", "fds")
    }
    return {
        "seconds": seconds,
        "target_rate_per_s": rate,
        "sent": sent,
        "mix": counts,
        "outcomes": outcomes,
        "lost": len(lost),
        "lost_examples": lost[:5],
        "p99_ms": round(rel_kit.percentile(latencies, 0.99) * 1000, 1),
        "rss_drift": drift["rss_kib"],
        "fds_drift": drift["fds"],
        "rss_kib_first_last": [round(mean(first, "rss_kib")), round(mean(last, "rss_kib"))]
        if first
        else None,
        "fds_first_last": [round(mean(first, "fds"), 1), round(mean(last, "fds"), 1)]
        if first
        else None,
        "samples": len(samples),
    }


# -- main ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
    }


async def run(sections: list[str], quick: bool, soak_seconds: float) -> dict[str, Any]:
    """Run the chosen sections; returns ``{section: figures}``."""
    out: dict[str, Any] = {}
    for name in sections:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        if name == "faults":
            out[name] = await section_faults()
        elif name == "retries":
            out[name] = await section_retries()
        elif name == "disconnects":
            out[name] = await section_disconnects(30 if quick else 200)
        elif name == "load":
            out[name] = await section_load(quick)
        elif name == "shutdown":
            out[name] = await anyio.to_thread.run_sync(section_shutdown)
        elif name == "loop":
            out[name] = await section_loop()
        elif name == "fuzz":
            out[name] = await anyio.to_thread.run_sync(section_fuzz, 200 if quick else 2000)
        elif name == "soak":
            out[name] = await soak(soak_seconds)
        else:
            raise SystemExit(f"unknown section {name!r}; known: {', '.join(SECTIONS)}, soak")
        out[name]["machine"] = machine()
        out[name]["quick"] = quick
        out[name]["section_seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(_short(out[name]), indent=1)[:2000], flush=True)
    return out


def _short(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k not in ("rows",)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--figures", type=Path, default=FIGURES)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    figures = asyncio.run(run(sections, args.quick, args.soak_seconds))
    if args.no_write:
        return 0
    merged: dict[str, Any] = {}
    if args.figures.exists():
        merged = json.loads(args.figures.read_text())
    merged.update(figures)
    args.figures.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
    args.doc.write_text(reliability_report.render(merged))
    print(f"wrote {args.figures.relative_to(ROOT)} and {args.doc.relative_to(ROOT)}")
    failures = reliability_report.failures(merged)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
