"""The litellm upstream end to end: the real ``openai`` client → the proxy app (upstream
``litellm``) → ``litellm.acompletion`` → a ``FakeUpstream`` over loopback HTTP."""

from __future__ import annotations

import itertools
import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import openai
import pytest
from litellm_testkit import MODEL, PROVIDER_KEY, proxy

from optillm_core.testing import FakeUpstream, Fault, Reply

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)


@pytest.mark.anyio
async def test_create_returns_an_openai_completion() -> None:
    fake = FakeUpstream("Paris is the capital.", require_api_key=PROVIDER_KEY)
    async with proxy(fake) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert reply.choices[0].message.content == "Paris is the capital."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 4
    assert reply.usage.prompt_tokens == fake.prompt_tokens_served
    # LiteLLM's provider prefix is consumed by LiteLLM; the provider sees its own model name.
    assert fake.bodies[0]["model"] == "fake-model"
    assert fake.bodies[0]["messages"] == QUESTION


@pytest.mark.anyio
async def test_stream_reassembles_content_and_reports_usage_last() -> None:
    fake = FakeUpstream("one two three four five")
    async with proxy(fake) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    assert chunks[-1].usage.prompt_tokens == fake.prompt_tokens_served
    assert fake.bodies[0]["stream"] is True


@pytest.mark.anyio
async def test_n_is_fanned_out_by_the_core() -> None:
    counter = itertools.count(1)
    fake = FakeUpstream(lambda body: f"answer {next(counter)}", supports_n=False)
    async with proxy(fake) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=QUESTION, n=2)
    assert sorted(c.message.content or "" for c in reply.choices) == ["answer 1", "answer 2"]
    assert fake.call_count == 2
    assert all((body.get("n") or 1) == 1 for body in fake.bodies)


@pytest.mark.anyio
async def test_upstream_400_keeps_status_and_message_and_is_not_retried() -> None:
    fake = FakeUpstream("unused")
    fake.fail_next(Fault(400, message="context too long for this model"))
    async with proxy(fake, upstream_max_retries=2) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 400
    assert "context too long for this model" in caught.value.message
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_upstream_429_keeps_retry_after() -> None:
    fake = FakeUpstream("unused")
    fake.fail_next(Fault(429, message="slow down", headers={"retry-after": "7"}))
    async with proxy(fake, upstream_max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert "slow down" in caught.value.message


@pytest.mark.anyio
async def test_server_errors_are_retried_by_litellm_then_502() -> None:
    fake = FakeUpstream("unused")
    fake.fail_next(Fault(500, message="boom"), times=2)
    async with proxy(fake, upstream_max_retries=1) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 502
    assert fake.call_count == 2


@pytest.mark.anyio
async def test_a_retry_can_succeed() -> None:
    fake = FakeUpstream("recovered")
    fake.fail_next(Fault(503, message="busy"))
    async with proxy(fake, upstream_max_retries=1) as client:
        reply = await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert reply.choices[0].message.content == "recovered"
    assert fake.call_count == 2


@pytest.mark.anyio
async def test_slow_upstream_is_a_504() -> None:
    fake = FakeUpstream("late")
    fake.fail_next(Fault(stall=3.0))
    async with proxy(fake, upstream_max_retries=0, upstream_timeout=0.3) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(model=MODEL, messages=QUESTION)
    assert caught.value.status_code == 504


@pytest.mark.anyio
@pytest.mark.parametrize(
    "field",
    [
        {"api_base": "http://127.0.0.1:9/v1"},
        {"base_url": "http://127.0.0.1:9/v1"},
        {"api_key": "sk-stolen"},
        {"aws_secret_access_key": "x"},
        {"vertex_location": "evil.example#"},
        {"mock_response": "forged"},
    ],
)
async def test_connection_and_credential_fields_are_refused(field: dict[str, Any]) -> None:
    fake = FakeUpstream("unused")
    async with proxy(fake) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=MODEL, messages=QUESTION, extra_body=field)
    (name,) = field
    assert name in caught.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_provider_extras_pass_through() -> None:
    fake = FakeUpstream("ok")
    async with proxy(fake) as client:
        await client.chat.completions.create(
            model=MODEL, messages=QUESTION, seed=3, extra_body={"top_k": 5}
        )
    assert fake.bodies[0]["top_k"] == 5
    assert fake.bodies[0]["seed"] == 3


@pytest.mark.anyio
async def test_model_without_a_provider_is_a_400() -> None:
    fake = FakeUpstream("unused")
    async with proxy(fake) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="fake-model", messages=QUESTION)
    assert "provider" in caught.value.message.lower()
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_a_forwarded_client_key_is_used_for_the_call() -> None:
    fake = FakeUpstream("ok", require_api_key="sk-client-own")
    async with proxy(fake, forward_client_key=True) as client:
        reply = await client.chat.completions.create(
            model=MODEL, messages=QUESTION, extra_headers={"x-upstream-api-key": "sk-client-own"}
        )
    assert reply.choices[0].message.content == "ok"


@pytest.mark.anyio
async def test_models_lists_the_default_model() -> None:
    fake = FakeUpstream("unused")
    async with proxy(fake, model="gemini/gemini-1.5-flash-002") as client:
        models = await client.models.list()
    assert "gemini/gemini-1.5-flash-002" in [m.id for m in models.data]
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_tool_calls_round_trip() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
    }
    tools = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    fake = FakeUpstream(Reply("", tool_calls=[call], finish_reason="tool_calls"))
    async with proxy(fake) as client:
        reply = await client.chat.completions.create(
            model=MODEL, messages=QUESTION, tools=tools, tool_choice="auto"
        )
    assert fake.bodies[0]["tools"] == tools
    assert reply.choices[0].finish_reason == "tool_calls"
    calls = reply.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_1", "weather", '{"city": "Paris"}')
    ]
