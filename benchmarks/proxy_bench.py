"""Proxy overhead, throughput and memory against FakeUpstream, side by side.

Runs the fake upstream and the proxy as separate processes on loopback, then measures:
added latency p50/p99 at concurrency 1 (non-streaming and time to first streamed chunk),
requests/s at concurrency 1, 16 and 64 (upstream at 0 ms and 200 ms), and the proxy's RSS at
idle, after 1,000 and after 10,000 requests. Prints Markdown tables.

    python benchmarks/proxy_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "hello there"}]}
FAKE_SERVER = """
import sys, uvicorn
from optillm_core.testing import FakeUpstream
fake = FakeUpstream("the quick brown fox jumps over the lazy dog", latency=float(sys.argv[2]))
uvicorn.run(fake, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(args: list[str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(health)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def stack(latency: float) -> Iterator[tuple[str, str, int]]:
    """(upstream base URL, proxy base URL, proxy pid)."""
    up, px = free_port(), free_port()
    upstream = f"http://127.0.0.1:{up}/v1"
    fake_cmd = [sys.executable, "-c", FAKE_SERVER, str(up), str(latency)]
    proxy_cmd = [
        sys.executable,
        "-m",
        "optillm_core",
        "--base-url",
        upstream,
        "--port",
        str(px),
        "--log",
        "warning",
        "--max-concurrent-requests",
        "1024",
    ]
    with process(fake_cmd, f"{upstream}/models"):
        env_before = dict(os.environ)
        with process(proxy_cmd, f"http://127.0.0.1:{px}/health") as proxy:
            yield upstream, f"http://127.0.0.1:{px}/v1", proxy.pid
        os.environ.clear()
        os.environ.update(env_before)


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def timed_requests(
    base: str, count: int, concurrency: int, stream: bool = False
) -> list[float]:
    """Latencies (seconds) of ``count`` requests at ``concurrency``; streaming measures TTFB."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        queue = iter(range(count))

        async def worker() -> None:
            for _ in queue:
                started = time.perf_counter()
                if stream:
                    async with client.stream(
                        "POST", "/chat/completions", json={**BODY, "stream": True}
                    ) as response:
                        chunks = response.aiter_bytes()
                        await anext(chunks)
                        latencies.append(time.perf_counter() - started)
                        async for _rest in chunks:
                            pass
                else:
                    response = await client.post("/chat/completions", json=BODY)
                    response.raise_for_status()
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def throughput(base: str, count: int, concurrency: int) -> float:
    started = time.perf_counter()
    await timed_requests(base, count, concurrency)
    return count / (time.perf_counter() - started)


async def run(quick: bool) -> None:
    n_latency = 200 if quick else 1000
    print("## Added latency at concurrency 1 (upstream 0 ms)\n")
    print(
        "| measure | upstream alone p50 | via proxy p50 | added p50 | upstream p99 | proxy p99 | added p99 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with stack(0.0) as (upstream, proxy, pid):
        await timed_requests(proxy, 200, 4)  # warm-up
        await timed_requests(upstream, 200, 4)
        for label, stream in (("non-streaming", False), ("time to first chunk", True)):
            direct = await timed_requests(upstream, n_latency, 1, stream)
            via = await timed_requests(proxy, n_latency, 1, stream)
            d50, p50 = pct(direct, 0.5), pct(via, 0.5)
            d99, p99 = pct(direct, 0.99), pct(via, 0.99)
            print(
                f"| {label} | {d50:.2f} ms | {p50:.2f} ms | {p50 - d50:.2f} ms | "
                f"{d99:.2f} ms | {p99:.2f} ms | {p99 - d99:.2f} ms |"
            )
    print("\n## Throughput (requests/s)\n")
    print("| upstream latency | concurrency | upstream alone | via proxy | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for latency in (0.0, 0.2):
        with stack(latency) as (upstream, proxy, pid):
            for concurrency in (1, 16, 64):
                count = max(concurrency * (3 if latency else 10), 50 if latency else 300)
                if quick:
                    count = max(concurrency * 2, 20)
                alone = await throughput(upstream, count, concurrency)
                via = await throughput(proxy, count, concurrency)
                print(
                    f"| {latency * 1000:.0f} ms | {concurrency} | {alone:.0f} | {via:.0f} | "
                    f"{via / alone:.0%} |"
                )
    print("\n## Proxy memory (RSS)\n")
    print("| point | RSS |")
    print("| --- | --- |")
    with stack(0.0) as (upstream, proxy, pid):
        print(f"| idle | {rss_mib(pid):.1f} MiB |")
        total = 2000 if quick else 10000
        await timed_requests(proxy, 1000, 16)
        after_1k = rss_mib(pid)
        print(f"| after 1,000 requests | {after_1k:.1f} MiB |")
        await timed_requests(proxy, total - 1000, 16)
        after_all = rss_mib(pid)
        print(
            f"| after {total:,} requests | {after_all:.1f} MiB ({after_all / after_1k - 1:+.1%}) |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    asyncio.run(run(parser.parse_args().quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
