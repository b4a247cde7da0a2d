"""Serving for real: graceful drain on SIGTERM, and several worker processes on one port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from optillm_core.server.runner import find_state
from optillm_core.testing import FakeUpstream, make_app

USER = [{"role": "user", "content": "hi"}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(upstream: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "optillm_core", "--base-url", upstream, "--port", str(port), *extra],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "no start")
        time.sleep(0.1)


def test_find_state_looks_through_middleware() -> None:
    app = make_app(FakeUpstream())

    class Wrapper:
        def __init__(self, inner: object) -> None:
            self.app = inner

    assert find_state(Wrapper(Wrapper(app))) is app.state.server
    assert find_state(object()) is None


def test_sigterm_drains_in_flight_requests_and_refuses_new_ones() -> None:
    fake = FakeUpstream("done", latency=1.5)
    with fake.serve_in_thread() as upstream:
        process, base = start(upstream, "--drain-grace", "0.5", "--drain-timeout", "10")
        results: list[int] = []

        def call() -> None:
            response = httpx.post(
                f"{base}/v1/chat/completions", json={"model": "m", "messages": USER}, timeout=20
            )
            results.append(response.status_code)

        threads = [threading.Thread(target=call) for _ in range(20)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while fake.in_flight < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.in_flight == 20
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        ready = httpx.get(f"{base}/health/ready", timeout=2)
        assert ready.status_code == 503
        refused = httpx.post(
            f"{base}/v1/chat/completions", json={"model": "m", "messages": USER}, timeout=2
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "draining"
        for thread in threads:
            thread.join(timeout=15)
        assert process.wait(timeout=15) == 0
    assert results == [200] * 20


@pytest.mark.slow
def test_several_workers_share_one_port() -> None:
    fake = FakeUpstream("from a worker")
    with fake.serve_in_thread() as upstream:
        process, base = start(upstream, "--workers", "2", "--drain-grace", "0")
        try:
            with httpx.Client(base_url=base, timeout=10) as client:
                bodies = [
                    client.post(
                        "/v1/chat/completions", json={"model": "m", "messages": USER}
                    ).json()
                    for _ in range(10)
                ]
            assert all(b["choices"][0]["message"]["content"] == "from a worker" for b in bodies)
            children = subprocess.run(
                ["pgrep", "-P", str(process.pid)], capture_output=True, text=True
            ).stdout.split()
            assert len(children) >= 2
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
