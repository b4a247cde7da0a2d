"""Graceful shutdown under load: SIGTERM while 50 requests are in flight. Readiness turns 503
at once, the 50 finish with 200, new requests are refused with 503 JSON, and the process exits
with status 0 within its drain timeout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx

from optillm_core.testing import FakeUpstream

DRAIN_GRACE = 0.5
DRAIN_TIMEOUT = 10.0
IN_FLIGHT = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_proxy(upstream: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [sys.executable, "-m", "optillm_core", "--base-url", upstream, "--port", str(port)]
    args += ["--drain-grace", str(DRAIN_GRACE), "--drain-timeout", str(DRAIN_TIMEOUT)]
    process = subprocess.Popen(
        args,
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
        time.sleep(0.05)


def test_sigterm_with_50_requests_in_flight_drains_them_all() -> None:
    fake = FakeUpstream(lambda body: f"answer {body['messages'][0]['content']}", latency=2.0)
    with fake.serve_in_thread() as upstream:
        process, base = start_proxy(upstream)
        try:
            results: dict[int, tuple[int, str]] = {}

            def call(i: int) -> None:
                body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
                try:
                    response = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
                    results[i] = (response.status_code, response.text)
                except httpx.HTTPError as exc:
                    results[i] = (0, repr(exc))

            threads = [threading.Thread(target=call, args=(i,)) for i in range(IN_FLIGHT)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while fake.in_flight < IN_FLIGHT and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake.in_flight == IN_FLIGHT

            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with httpx.Client(base_url=base, timeout=2) as client:
                while client.get("/health/ready").status_code != 503:
                    assert time.monotonic() - signalled < 0.5, "readiness still 200"
                    time.sleep(0.005)
                not_ready_after = time.monotonic() - signalled
                refused = client.post(
                    "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "late"}]}
                )
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "draining"
            assert refused.headers["retry-after"]

            code = process.wait(timeout=DRAIN_GRACE + DRAIN_TIMEOUT + 5)
            exited_after = time.monotonic() - signalled
            for thread in threads:
                thread.join(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0
    assert exited_after < DRAIN_GRACE + DRAIN_TIMEOUT
    assert not_ready_after < 0.5
    assert sorted(results) == list(range(IN_FLIGHT))
    assert {status for status, _ in results.values()} == {200}, [
        text for status, text in results.values() if status != 200
    ][:3]
    assert all(f"answer q{i}" in results[i][1] for i in range(IN_FLIGHT))
    assert all("late" not in (r.body["messages"][0]["content"]) for r in fake.requests)
    assert fake.call_count == IN_FLIGHT
