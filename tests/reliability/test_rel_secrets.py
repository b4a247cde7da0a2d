"""Secrets and authentication: canary keys never appear in logs (any level), error messages,
traces, /metrics, health, models, ``optillm config`` output or conversation logs; wrong,
missing and malformed ``Authorization`` headers get 401; the key comparison is constant-time
(digests compared with ``hmac.compare_digest``; timing checked statistically)."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from rel_kit import proxy, refused_url, smart_reply, tagged

import optillm_bon.plugin as bon
import optillm_moa.plugin as moa
from optillm_core.approach import Approach
from optillm_core.hookspecs import hookimpl
from optillm_core.results import ApproachResult
from optillm_core.server import middleware
from optillm_core.server.middleware import ServerMiddleware
from optillm_core.testing import FakeUpstream, Fault, make_app

PROXY_KEY = "sk-proxy-canary-7d41c0ffee"
UPSTREAM_KEY = "sk-upstream-canary-93ab5eed"
CLIENT_KEY = "sk-client-canary-1f2e3d4c"
CANARIES = (PROXY_KEY, UPSTREAM_KEY, CLIENT_KEY)
AUTH = {"Authorization": f"Bearer {PROXY_KEY}"}


def leaks(text: str) -> list[str]:
    """The canaries (or a long piece of one) found in ``text``."""
    return [c for c in CANARIES if c in text or c[3:-4] in text]


class TraceRecorder(Approach):
    """A test approach that keeps each request's trace (to check traces for secrets)."""

    slug = "trace_recorder"
    summary = "test: records traces"
    traces: list[list[dict[str, Any]]] = []

    async def run(self, ctx: Any) -> ApproachResult:
        try:
            answer = await ctx.complete()
            return ApproachResult.text(answer.text)
        finally:
            TraceRecorder.traces.append(ctx.trace.to_list())


class RecorderPlugin:
    @hookimpl
    def register_approaches(self, register: Any) -> None:
        register(TraceRecorder())


def every_text(response: httpx2.Response) -> str:
    return response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


@pytest.mark.anyio
async def test_canaries_never_reach_logs_errors_traces_metrics_or_conversation_logs(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeUpstream(smart_reply())
    settings: dict[str, Any] = {
        "optillm_api_key": PROXY_KEY,
        "openai_api_key": UPSTREAM_KEY,
        "forward_client_key": True,
        "log_conversations": True,
        "conversation_log_dir": str(tmp_path),
        "upstream_idle_timeout": 0.3,
        "request_timeout": 0.6,
        "keepalive_interval": 0,
        "log": "debug",
    }
    plugins = [bon, moa, RecorderPlugin()]
    seen: list[str] = []
    async with (
        proxy(fake, plugins, **settings) as (app, url),
        proxy(fake, plugins, upstream_url=refused_url(), **settings) as (_, refused),
    ):
        base = url.removesuffix("/v1")
        async with httpx2.AsyncClient(base_url=url, timeout=10, headers=AUTH) as client:

            async def chat(model: str = "fake-model", stream: bool = False, **extra: Any) -> None:
                headers = extra.pop("headers", {})
                body = {"model": model, "messages": tagged("secret"), "stream": stream, **extra}
                response = await client.post("/chat/completions", json=body, headers=headers)
                seen.append(every_text(response))

            for model in ("fake-model", "moa-fake-model", "bon-fake-model", "trace_recorder-m"):
                for stream in (False, True):
                    await chat(model, stream)
            # upstreams that echo the key they were sent, as some providers do
            for stream in (False, True):
                fake.fail_next(Fault(401, message=f"Incorrect API key provided: {UPSTREAM_KEY}"))
                await chat("fake-model", stream)
                fake.fail_next(Fault(500, message=f"key {UPSTREAM_KEY} is broken"))
                await chat("trace_recorder-m", stream)
            fake.fail_next(Fault(401, message=f"Incorrect API key provided: {CLIENT_KEY}"))
            await chat(headers={"x-upstream-api-key": CLIENT_KEY})
            await chat(headers={"x-upstream-api-key": CLIENT_KEY}, stream=True)
            fake.fail_next(Fault(stall=5))
            await chat(stream=True)  # idle timeout
            fake.fail_next(Fault(delay=5))
            await chat()  # request deadline
            for path in ("/models", "/optillm/approaches"):
                seen.append(every_text(await client.get(path)))
            for path in ("/metrics", "/health", "/health/ready"):
                seen.append(every_text(await client.get(base + path)))
            for header in (f"Bearer {PROXY_KEY}x", PROXY_KEY, f"Basic {PROXY_KEY}"):
                response = await client.post(
                    "/chat/completions",
                    json={"model": "m", "messages": tagged("x")},
                    headers={"Authorization": header},
                )
                assert response.status_code == 401
                seen.append(every_text(response))
        async with httpx2.AsyncClient(base_url=refused, timeout=10, headers=AUTH) as client:
            response = await client.post(
                "/chat/completions", json={"model": "m", "messages": tagged("refused")}
            )
            assert response.status_code == 502
            seen.append(every_text(response))

    # the canaries were really in use: the upstream got the upstream key and the client key
    sent_keys = {record.headers.get("authorization") for record in fake.requests}
    assert f"Bearer {UPSTREAM_KEY}" in sent_keys and f"Bearer {CLIENT_KEY}" in sent_keys
    assert any(record.levelname == "DEBUG" for record in caplog.records)
    assert TraceRecorder.traces

    conversations = "".join(path.read_text() for path in tmp_path.glob("*.jsonl"))
    assert conversations
    logged = caplog.text + "".join(
        f"{record.args!r}{record.exc_text or ''}" for record in caplog.records
    )
    places = {
        "responses": "\n".join(seen),
        "logs": logged,
        "conversation logs": conversations,
        "traces": repr(TraceRecorder.traces),
    }
    assert {where: leaks(text) for where, text in places.items()} == {where: [] for where in places}
    assert "Incorrect API key provided: ***" in places["responses"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_config_output_and_a_debug_server_log_never_show_the_keys() -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPTILLM_API_KEY": PROXY_KEY,
    }
    shown = subprocess.run(
        [sys.executable, "-m", "optillm_core", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert '"optillm_api_key": "***"' in shown.stdout
    assert '"openai_api_key": "***"' in shown.stdout
    assert leaks(shown.stdout + shown.stderr) == []

    fake = FakeUpstream("fine", require_api_key=UPSTREAM_KEY)
    with fake.serve_in_thread() as upstream:
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "optillm_core",
                "--base-url",
                upstream,
                "--port",
                str(port),
                "--log",
                "debug",
                "--drain-grace",
                "0",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
            with httpx.Client(base_url=f"{base}/v1", timeout=10) as client:
                body = {"model": "m", "messages": tagged("debug")}
                assert client.post("/chat/completions", json=body, headers=AUTH).status_code == 200
                stream = {**body, "stream": True}
                assert (
                    client.post("/chat/completions", json=stream, headers=AUTH).status_code == 200
                )
                assert client.get("/models", headers=AUTH).status_code == 200
                wrong = {"Authorization": f"Bearer {PROXY_KEY[:-1]}"}
                assert client.post("/chat/completions", json=body, headers=wrong).status_code == 401
                fake.fail_next(Fault(401, message=f"Incorrect API key provided: {UPSTREAM_KEY}"))
                refused = client.post("/chat/completions", json=body, headers=AUTH)
                assert refused.status_code == 401 and leaks(refused.text) == []
                assert client.get(f"{base}/metrics", headers=AUTH).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
    assert " DEBUG " in err  # the log really ran at debug level
    assert leaks(out + err) == []


# -- authentication ---------------------------------------------------------------------


def raw_app_client(app: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t")


BAD_AUTH: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"authorization", b"")],
    [(b"authorization", b"Bearer")],
    [(b"authorization", b"Bearer ")],
    [(b"authorization", b"Bearer wrong")],
    [(b"authorization", f"Bearer {PROXY_KEY}x".encode())],
    [(b"authorization", f"Bearer {PROXY_KEY[:-1]}".encode())],
    [(b"authorization", f"Bearer {PROXY_KEY.upper()}".encode())],
    [(b"authorization", PROXY_KEY.encode())],
    [(b"authorization", f"Token {PROXY_KEY}".encode())],
    [(b"authorization", b"Basic " + base64.b64encode(f"user:{PROXY_KEY}".encode()))],
    [(b"authorization", f"Bearer {PROXY_KEY} {PROXY_KEY}".encode())],
    [(b"authorization", "Bearer \u043a\u043b\u044e\u0447".encode())],
    [(b"authorization", b"Bearer \xff\xfe\x00")],
    [(b"x-api-key", PROXY_KEY.encode())],
    [(b"authorization", b"Bearer wrong"), (b"authorization", f"Bearer {PROXY_KEY}".encode())],
]


@pytest.mark.anyio
@pytest.mark.parametrize("headers", BAD_AUTH, ids=[str(i) for i in range(len(BAD_AUTH))])
async def test_wrong_missing_or_malformed_authorization_is_401(headers) -> None:
    fake = FakeUpstream()
    app = make_app(fake, optillm_api_key=PROXY_KEY)
    async with raw_app_client(app) as client:
        for path in ("/v1/chat/completions", "/v1/models", "/metrics", "/v1/optillm/approaches"):
            method = "POST" if "chat" in path else "GET"
            request = client.build_request(
                method, path, json={"model": "m", "messages": tagged("a")}
            )
            request.headers = httpx2.Headers([*request.headers.raw, *headers])
            sent = [v for k, v in request.headers.raw if k.lower() == b"authorization"]
            assert len(sent) == sum(k == b"authorization" for k, _ in headers)
            response = await client.send(request)
            assert response.status_code == 401, (path, headers)
            error = response.json()["error"]
            assert error["code"] == "invalid_api_key"
            assert leaks(response.text) == []
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_the_right_key_in_any_scheme_case_is_accepted() -> None:
    app = make_app(FakeUpstream(), optillm_api_key=PROXY_KEY)
    async with raw_app_client(app) as client:
        for scheme in ("Bearer", "bearer", "BEARER"):
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": tagged("ok")},
                headers={"Authorization": f"{scheme} {PROXY_KEY}"},
            )
            assert response.status_code == 200, scheme


# -- constant-time comparison ------------------------------------------------------------


def test_the_key_check_compares_sha256_digests_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard = ServerMiddleware(lambda *a: None, api_key=PROXY_KEY)
    assert guard.expected == hashlib.sha256(PROXY_KEY.encode()).digest()
    compared: list[tuple[bytes, bytes]] = []
    real = middleware.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(middleware.hmac, "compare_digest", spy)
    for token in (PROXY_KEY, "short", PROXY_KEY * 3):
        scope = {"path": "/v1/models", "headers": [(b"authorization", f"Bearer {token}".encode())]}
        assert guard._authorized(scope) is (token == PROXY_KEY)
    assert len(compared) == 3
    # every comparison is between two 32-byte digests: no length or prefix of the key shows
    assert all(len(a) == len(b) == 32 for a, b in compared)
    assert all(PROXY_KEY.encode() not in a for a, _ in compared)


def test_key_check_timing_does_not_depend_on_the_matching_prefix() -> None:
    """Statistical check with generous bounds: presented keys of the key's length that share
    no prefix, half of it, or all but the last character take the same time to reject."""
    guard = ServerMiddleware(lambda *a: None, api_key=PROXY_KEY)
    n = len(PROXY_KEY)
    candidates = {
        "no prefix": "#" * n,
        "half": PROXY_KEY[: n // 2] + "#" * (n - n // 2),
        "all but last": PROXY_KEY[:-1] + "#",
    }
    scopes = {
        name: {"path": "/v1/models", "headers": [(b"authorization", f"Bearer {k}".encode())]}
        for name, k in candidates.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in scopes}
    for _ in range(40):  # interleaved rounds, so machine load hits every candidate alike
        for name, scope in scopes.items():
            started = time.perf_counter_ns()
            for _ in range(300):
                guard._authorized(scope)
            samples[name].append(time.perf_counter_ns() - started)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    assert max(medians.values()) / min(medians.values()) < 1.5, medians
