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
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reliability"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rel_kit as kit  # noqa: E402
import rel_kit_faults as faults_kit  # noqa: E402
import rel_kit_lifecycle as life_kit  # noqa: E402
import rel_kit_load as load_kit  # noqa: E402
import rel_kit_loop as loop_kit  # noqa: E402
import reliability_report  # noqa: E402
from reliability_procs import (  # noqa: E402
    RemoteLog,
    fake_process,
    proc_resources,
    proxy_process,
    upstream_log,
)
from reliability_soak import soak  # noqa: E402

FIGURES = ROOT / "docs" / "reliability-figures.json"
DOC = ROOT / "docs" / "reliability.md"
SECTIONS = ("faults", "retries", "disconnects", "load", "shutdown", "loop", "fuzz")


async def section_faults() -> dict[str, Any]:
    """Every fault case of the matrix, for none and moa, streaming and not (in-process)."""
    import optillm_bon.plugin as bon
    import optillm_moa.plugin as moa

    rows = []
    async with faults_kit.fault_stacks([bon, moa]) as stacks:
        for approach in ("none", "moa"):
            for stream in (False, True):
                for case in faults_kit.cases_for(approach, stream):
                    result = await faults_kit.run_case(stacks, case, approach, stream)
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
        "idle_timeout_s": faults_kit.IDLE_TIMEOUT,
        "request_timeout_s": faults_kit.REQUEST_TIMEOUT,
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
    async with faults_kit.fault_stacks([moa], upstream_max_retries=2) as stacks:
        client = stacks.clients["fake"]
        for name, fault, stream in classes:
            kit.drain_fake(stacks.fake)
            stacks.fake.fail_next(fault, times=3)
            body = {"model": "fake-model", "messages": kit.tagged("retry"), "stream": stream}
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
        kit.drain_fake(stacks.fake)
    async with (
        kit.RawUpstream("close") as closer,
        kit.proxy(stacks.fake, [], closer.url, upstream_max_retries=2) as (_, url),
        httpx2.AsyncClient(base_url=url, timeout=30) as client,
    ):
        body = {"model": "fake-model", "messages": kit.tagged("conn")}
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
    return (await life_kit.disconnect_run(repetitions)).summary()


async def section_load(quick: bool) -> dict[str, Any]:
    """Passthrough and bon at high concurrency, then overload, against process pairs."""
    plain_n, bon_n = (300, 60) if quick else (2000, 300)
    out: dict[str, Any] = {"upstream_latency_ms": 50}
    with fake_process(0.05) as upstream, proxy_process(upstream) as (url, pid):
        await load_kit.load(url, "fake-model", 64, 16, label="warm", limit_seconds=120)
        before = proc_resources(pid)
        upstream_log(upstream, reset=True)
        plain = await load_kit.load(
            url, "fake-model", plain_n, 64, label="plain", limit_seconds=600
        )
        load_kit.reconcile(plain, RemoteLog(upstream_log(upstream)), calls_per_request=1)
        upstream_log(upstream, reset=True)
        best = await load_kit.load(url, "bon-fake-model", bon_n, 16, label="bon", limit_seconds=600)
        load_kit.reconcile(best, RemoteLog(upstream_log(upstream)), calls_per_request=4)
        after = proc_resources(pid)
        out["passthrough"] = {**plain.summary(), "problems": plain.problems[:5]}
        out["bon"] = {**best.summary(), "problems": best.problems[:5]}
        out["proxy_before"], out["proxy_after"] = before, after
    limit, burst = 32, 96 if quick else 256
    with (
        fake_process(1.0) as upstream,
        proxy_process(upstream, "--max-concurrent-requests", str(limit)) as (url, pid),
    ):
        over = await load_kit.load(
            url, "fake-model", burst, burst, label="over", request_timeout=30, limit_seconds=120
        )
        load_kit.reconcile(over, RemoteLog(upstream_log(upstream)), calls_per_request=1)
        out["overload"] = {
            **over.summary(),
            "limit": limit,
            "upstream_latency_ms": 1000,
            "problems": over.problems[:5],
        }
    return out


def section_shutdown() -> dict[str, Any]:
    """SIGTERM with 50 requests in flight."""
    figures = life_kit.sigterm_under_load(in_flight=50, latency=1.5, grace=0.5, drain=10.0)
    return {**figures.summary(), "answers_ok": figures.answers_ok}


async def section_loop() -> dict[str, Any]:
    """Loop lag and /health latency while the sandbox, presidio and the local engine work."""
    return {
        "components": [figures.summary() for figures in await loop_kit.loop_health(cold_start=True)]
    }


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
