"""The processes the load and soak benchmarks drive: the fake upstream (with its request log
and fault tags, see ``rel_kit_load.fault_router``) and the proxy as ``python -m optillm_core``.
Import after ``reliability_bench`` has put ``tests/reliability`` on ``sys.path``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import rel_kit as kit
import rel_kit_lifecycle as life_kit

ROOT = Path(__file__).resolve().parent.parent

FAKE_SERVER = """
import sys
sys.path.insert(0, sys.argv[3])
import uvicorn
from rel_kit import smart_reply
from rel_kit_load import fault_router
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

    port = kit.free_port()
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
    process, base = life_kit.start_proxy_process(
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
    """``FakeUpstream``-like view of a fake process's log, for ``load_kit.reconcile``."""

    def __init__(self, tags: list[str | None]) -> None:
        self.requests = [
            type("Record", (), {"body": {"messages": [{"content": f"[id:{t}]"}]}})()
            for t in tags
            if t
        ]


def proc_resources(pid: int) -> dict[str, int]:
    """RSS (KiB), open fds and sockets of a process."""
    fds, sockets = kit.fd_counts(pid)
    return {"rss_kib": kit.rss_kib(pid), "fds": fds, "sockets": sockets}


# -- sections -----------------------------------------------------------------------------
