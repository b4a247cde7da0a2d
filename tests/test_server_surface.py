"""The HTTP surface through the real openai client: shapes, errors, endpoints, limits, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import httpx
import httpx2
import openai
import pytest

from optillm_core.testing import FakeUpstream, Fault, Reply, make_app, openai_client, served_proxy

USER = [{"role": "user", "content": "hello"}]


def raw_client(app) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t")


# -- response shape ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_approach_response_has_every_openai_field() -> None:
    fake = FakeUpstream("a b c")
    async with openai_client(make_app(fake, autoload=True)) as client:
        response = await client.chat.completions.with_raw_response.create(
            model="example_echo-fake-model", messages=USER
        )
    body = json.loads(response.http_response.text)
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "fake-model"  # the upstream model: approach prefix removed
    choice = body["choices"][0]
    assert set(choice) == {"index", "message", "logprobs", "finish_reason"}
    assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
    headers = response.http_response.headers
    assert headers["x-optillm-approach"] == "example_echo"
    assert headers["x-optillm-upstream-calls"] == "1"
    assert headers["x-request-id"]


@pytest.mark.anyio
async def test_length_from_an_internal_call_is_reported() -> None:
    fake = FakeUpstream(Reply("cut", finish_reason="length"))
    async with openai_client(make_app(fake, autoload=True)) as client:
        response = await client.chat.completions.create(
            model="example_echo-fake-model", messages=USER
        )
    assert response.choices[0].finish_reason == "length"


# -- lossless passthrough -----------------------------------------------------------------


@pytest.mark.anyio
async def test_passthrough_returns_the_upstream_body_except_the_model() -> None:
    tool_call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    fake = FakeUpstream(Reply("", tool_calls=[tool_call], finish_reason="tool_calls"))
    messages = [
        {"role": "developer", "content": "dev"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:x"}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": [tool_call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ]
    body = {
        "model": "fake-model",
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": "auto",
        "response_format": {"type": "text"},
        "logprobs": True,
        "seed": 7,
        "stop": ["\n\n"],
        "vendor_extension": {"keep": True},
    }
    async with raw_client(make_app(fake)) as client:
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    sent = fake.bodies[0]
    assert sent == body
    returned = response.json()
    assert returned["choices"][0]["message"]["tool_calls"] == [tool_call]
    assert returned["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.anyio
async def test_streamed_passthrough_keeps_tool_call_deltas_and_reasoning() -> None:
    tool_call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "g", "arguments": '{"a": 1}'},
    }
    fake = FakeUpstream(
        Reply(
            "",
            tool_calls=[tool_call],
            reasoning_content="thinking hard",
            finish_reason="tool_calls",
        )
    )
    async with openai_client(make_app(fake)) as client:
        stream = await client.chat.completions.create(
            model="fake-model", messages=USER, stream=True
        )
        chunks = [c async for c in stream]
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert reasoning == "thinking hard"
    assert calls[0].function.name == "g"
    assert "".join(tc.function.arguments or "" for tc in calls) == '{"a": 1}'
    assert [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ] == ["tool_calls"]


# -- errors --------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"model": "m", "messages": []}).encode(), 400, "messages"),
        (
            json.dumps({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}).encode(),
            400,
            "role",
        ),
        (
            json.dumps({"model": "cepo-m", "messages": USER, "optillm_approach": "cepo"}).encode(),
            400,
            "Installed approaches",
        ),
        (
            json.dumps({"model": "moa&nope-m", "messages": USER}).encode(),
            400,
            "Unknown approach 'moa'",
        ),
        (json.dumps({"model": "m", "messages": USER, "n": 1000}).encode(), 400, "n=1000"),
        (b"\xff\xfe\x00garbage", 400, "not valid JSON"),
    ],
)
async def test_bad_requests_are_openai_errors(payload: bytes, status: int, fragment: str) -> None:
    async with raw_client(make_app(FakeUpstream())) as client:
        response = await client.post("/v1/chat/completions", content=payload)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"]
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.anyio
async def test_body_size_limit_is_413() -> None:
    async with raw_client(make_app(FakeUpstream(), max_body_bytes=1000)) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_upstream_4xx_pass_through(status: int) -> None:
    fake = FakeUpstream()
    fake.fail_next(Fault(status, message=f"upstream says {status}"))
    async with openai_client(make_app(fake)) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(model="fake-model", messages=USER)
    assert raised.value.status_code == status
    assert f"upstream says {status}" in raised.value.message


@pytest.mark.anyio
async def test_upstream_429_keeps_retry_after() -> None:
    fake = FakeUpstream()
    fake.fail_next(Fault(429, message="slow down", headers={"retry-after": "7"}))
    async with openai_client(make_app(fake)) as client:
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(model="fake-model", messages=USER)
    assert raised.value.response.headers["retry-after"] == "7"


@pytest.mark.anyio
@pytest.mark.parametrize("fault", [Fault(500), Fault(503), Fault(malformed=True), Fault(drop=True)])
async def test_upstream_failures_become_502(fault: Fault) -> None:
    fake = FakeUpstream()
    fake.fail_next(fault)
    async with raw_client(make_app(fake)) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.anyio
async def test_unreachable_upstream_is_502() -> None:
    fake = FakeUpstream()
    app = make_app(fake, base_url="http://127.0.0.1:9/v1")
    async with raw_client(app) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


@pytest.mark.anyio
async def test_stream_cut_upstream_ends_with_an_sse_error_event() -> None:
    fake = FakeUpstream("one two three four five six")
    fake.fail_next(Fault(stream_cut=True))
    async with raw_client(make_app(fake)) as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    assert response.status_code == 200
    events = [line for line in response.text.split("\n\n") if line]
    assert "upstream_stream_cut" in events[-1]
    assert "[DONE]" not in response.text


# -- endpoints -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_models_lists_upstream_models_and_approach_ids() -> None:
    fake = FakeUpstream(models=("fake-model", "other"))
    async with openai_client(make_app(fake, autoload=True)) as client:
        ids = [m.id async for m in client.models.list()]
    assert ids[:2] == ["fake-model", "other"]
    assert "example_echo-fake-model" not in ids  # hidden template slug
    assert "none-fake-model" not in ids
    installed = {m.split("-fake-model")[0] for m in ids[2:]}
    assert installed, "installed approaches must be advertised as <slug>-<default model>"
    assert all(m.endswith("-fake-model") for m in ids[2:])


@pytest.mark.anyio
async def test_approaches_endpoint_describes_parameters() -> None:
    async with raw_client(make_app(FakeUpstream(), autoload=True)) as client:
        rows = {r["slug"]: r for r in (await client.get("/v1/optillm/approaches")).json()["data"]}
    assert rows["none"]["distribution"] == "optillm-core"
    example = rows["example_echo"]
    assert example["distribution"] == "optillm-example"
    assert example["parameters"]["properties"]["prefix"]["default"] == ""


@pytest.mark.anyio
async def test_health_ready_and_metrics() -> None:
    app = make_app(FakeUpstream(), optillm_api_key="secret")
    async with raw_client(app) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/health/ready")).status_code == 503  # lifespan not started
        app.state.server.ready = True
        assert (await client.get("/health/ready")).status_code == 200
        auth = {"Authorization": "Bearer secret"}
        await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER}, headers=auth
        )
        text = (await client.get("/metrics", headers=auth)).text
    assert 'optillm_requests_total{approach="none",status="200"} 1' in text
    assert "optillm_request_duration_seconds_count 1" in text
    assert 'optillm_tokens_total{kind="prompt"} 1' in text


# -- auth, ids, logs -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_auth_and_the_canary_key_never_reaches_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "sk-optillm-canary-5f1e"
    fake = FakeUpstream()
    app = make_app(fake, optillm_api_key=canary)
    caplog.set_level(logging.DEBUG)
    async with raw_client(app) as client:
        for header in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": canary},
            {"Authorization": "Basic x"},
        ):
            response = await client.post(
                "/v1/chat/completions", json={"model": "m", "messages": USER}, headers=header
            )
            assert response.status_code == 401
            assert response.json()["error"]["type"] == "authentication_error"
        ok = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": USER},
            headers={"Authorization": f"Bearer {canary}", "x-request-id": "client-id-1"},
        )
        assert (await client.get("/health")).status_code == 200
    assert ok.status_code == 200
    assert ok.headers["x-request-id"] == "client-id-1"
    assert "authorization" not in {
        k.lower() for k in fake.requests[0].headers if "canary" in fake.requests[0].headers[k]
    }
    assert canary not in caplog.text
    assert "request_id=client-id-1" in caplog.text


@pytest.mark.anyio
async def test_unsafe_request_ids_are_replaced() -> None:
    async with raw_client(make_app(FakeUpstream())) as client:
        response = await client.get("/health", headers={"x-request-id": "bad id\twith spaces"})
    assert response.headers["x-request-id"].startswith("req-")


@pytest.mark.anyio
async def test_client_upstream_key_is_forwarded_only_when_enabled() -> None:
    for enabled, expected in ((False, "Bearer test-upstream-key"), (True, "Bearer sk-client-own")):
        fake = FakeUpstream()
        async with raw_client(make_app(fake, forward_client_key=enabled)) as client:
            await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": USER, "base_url": "http://evil.example/v1"},
                headers={"x-upstream-api-key": "sk-client-own"},
            )
        assert fake.requests[0].headers["authorization"] == expected


@pytest.mark.anyio
async def test_conversation_log_records_calls_and_responses(tmp_path: Path) -> None:
    fake = FakeUpstream("logged answer")
    app = make_app(fake, log_conversations=True, conversation_log_dir=str(tmp_path))
    async with raw_client(app) as client:
        await client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
        await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    lines = [
        json.loads(line) for f in tmp_path.glob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert len(lines) == 2
    assert lines[0]["response"]["choices"][0]["message"]["content"] == "logged answer"
    assert lines[0]["upstream_calls"][0]["request"]["messages"] == USER
    assert lines[1]["response"]["choices"][0]["content"] == "logged answer"
    assert lines[1]["upstream_calls"][0]["response_chunks"]


# -- limits and cancellation ----------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrency_limit_answers_503_with_retry_after() -> None:
    fake = FakeUpstream("slow", latency=0.5)
    app = make_app(fake, max_concurrent_requests=1)
    async with raw_client(app) as client:
        results: list[httpx2.Response] = []

        async def call() -> None:
            results.append(
                await client.post("/v1/chat/completions", json={"model": "m", "messages": USER})
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await anyio.sleep(0.1)
            tg.start_soon(call)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 503]
    rejected = next(r for r in results if r.status_code == 503)
    assert rejected.headers["retry-after"] == "1"


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_client_disconnect_cancels_upstream_calls(stream: bool) -> None:
    fake = FakeUpstream("one two three", latency=5.0, stream_chunk_delay=0.2)
    async with served_proxy(fake) as proxy:
        async with httpx.AsyncClient(base_url=proxy.proxy_url, timeout=10) as client:
            with anyio.move_on_after(0.5):
                await client.post(
                    "/chat/completions", json={"model": "m", "messages": USER, "stream": stream}
                )
        assert fake.call_count == 1
        with anyio.fail_after(1.0):
            while fake.in_flight:
                await anyio.sleep(0.02)
        metrics = proxy.app.state.server.metrics
        with anyio.fail_after(1.0):
            while not metrics.disconnects:
                await anyio.sleep(0.02)
        assert metrics.requests == {("none", 499): 1}


@pytest.mark.anyio
async def test_a_completed_stream_is_not_counted_as_a_disconnect() -> None:
    fake = FakeUpstream("complete answer")
    async with served_proxy(fake) as proxy:
        async with httpx.AsyncClient(base_url=proxy.proxy_url, timeout=10) as client:
            for _ in range(5):
                response = await client.post(
                    "/chat/completions", json={"model": "m", "messages": USER, "stream": True}
                )
                assert response.text.rstrip().endswith("[DONE]")
        metrics = proxy.app.state.server.metrics
        with anyio.fail_after(2.0):
            while sum(metrics.requests.values()) < 5:
                await anyio.sleep(0.02)
    assert metrics.requests == {("none", 200): 5}
    assert metrics.disconnects == 0


@pytest.mark.anyio
async def test_keepalives_flow_while_a_slow_final_stage_runs() -> None:
    # The first stage answers at once; the second waits 0.4 s on its upstream call, during
    # which the client must receive keep-alive comments.
    slow = FakeUpstream()
    slow.enqueue("fast", Reply("slow", latency=0.4))
    app = make_app(slow, autoload=True, keepalive_interval=0.1)
    async with raw_client(app) as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "example_echo&example_echo-m", "messages": USER, "stream": True},
        )
    assert response.status_code == 200
    assert ": keep-alive" in response.text
    assert response.text.rstrip().endswith("data: [DONE]")


@pytest.mark.anyio
async def test_no_keepalive_before_the_first_upstream_success() -> None:
    fake = FakeUpstream()
    fake.fail_next(Fault(401, message="bad upstream key", delay=0.3))
    app = make_app(fake, keepalive_interval=0.05)
    async with raw_client(app) as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    assert response.status_code == 401
    assert response.json()["error"]["message"].endswith("bad upstream key")
