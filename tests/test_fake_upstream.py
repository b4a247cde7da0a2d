"""The fake upstream behaves like an OpenAI-compatible server, as seen by the real openai client."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai
import pytest

from optillm_core.testing.fake_upstream import FakeUpstream, Fault, Reply

USER = [{"role": "user", "content": "two words"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def http_client(fake: FakeUpstream) -> AsyncIterator[openai.AsyncOpenAI]:
    """An openai client talking to ``fake`` over real HTTP."""
    async with fake.serve() as base_url:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
        async with client:
            yield client


def asgi_client(fake: FakeUpstream) -> openai.AsyncOpenAI:
    """An openai client talking to ``fake`` in-process."""
    return openai.AsyncOpenAI(
        base_url="http://fake-upstream/v1",
        api_key="x",
        max_retries=0,
        http_client=fake.asgi_client(),
    )


async def ask(client: openai.AsyncOpenAI, **extra: Any) -> Any:
    return await client.chat.completions.create(model="m", messages=USER, **extra)


async def sse_events(fake: FakeUpstream, body: dict[str, Any]) -> list[str]:
    """The raw ``data:`` payloads of a streamed answer, read over real HTTP."""
    async with fake.serve() as base_url, httpx2.AsyncClient(base_url=base_url) as client:
        response = await client.post("/chat/completions", json=body)
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line[6:] for line in response.text.split("\n\n") if line.startswith("data: ")]


# -- replies ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_scripted_reply_and_models_over_http() -> None:
    fake = FakeUpstream("scripted answer", models=("a", "b"))
    async with http_client(fake) as client:
        answer = await ask(client)
        models = await client.models.list()
    assert answer.choices[0].message.content == "scripted answer"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "m"
    assert [model.id for model in models.data] == ["a", "b"]
    assert fake.call_count == 1
    assert fake.bodies[0]["messages"] == USER
    record = fake.requests[0]
    assert record.status == 200
    assert record.headers["authorization"] == "Bearer x"
    assert record.finished is not None
    assert record.finished >= record.started


@pytest.mark.anyio
async def test_default_reply_echoes_the_last_user_message() -> None:
    async with asgi_client(FakeUpstream()) as client:
        answer = await ask(client)
    assert answer.choices[0].message.content == "echo: two words"


@pytest.mark.anyio
async def test_queue_takes_precedence_in_order_then_falls_back() -> None:
    fake = FakeUpstream("fallback")
    fake.enqueue("first", Reply("second", finish_reason="length"))
    async with asgi_client(fake) as client:
        answers = [await ask(client) for _ in range(3)]
    assert [a.choices[0].message.content for a in answers] == ["first", "second", "fallback"]
    assert answers[1].choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_n_calls_the_reply_source_once_per_choice() -> None:
    seen: list[int] = []

    async def reply(body: dict[str, Any]) -> str:
        seen.append(body["n"])
        return f"answer number {len(seen)}"

    fake = FakeUpstream(reply)
    async with asgi_client(fake) as client:
        answer = await ask(client, n=3)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.message.content for c in answer.choices] == [
        "answer number 1",
        "answer number 2",
        "answer number 3",
    ]
    assert answer.usage.completion_tokens == 9
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_without_n_support_n_above_one_is_a_bad_request() -> None:
    fake = FakeUpstream(supports_n=False)
    async with http_client(fake) as client:
        with pytest.raises(openai.BadRequestError, match="n>1 is not supported"):
            await ask(client, n=2)
        answer = await ask(client, n=1)
    assert answer.choices[0].message.content == "echo: two words"


@pytest.mark.anyio
async def test_usage_counts_words_and_totals_what_was_served() -> None:
    fake = FakeUpstream()
    fake.enqueue("one two three", "four", Reply("x", prompt_tokens=50, completion_tokens=7))
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "a b c"}]},
    ]
    async with asgi_client(fake) as client:
        first = await client.chat.completions.create(model="m", messages=messages, n=2)
        second = await ask(client)
    assert first.usage.model_dump(
        include={"prompt_tokens", "completion_tokens", "total_tokens"}
    ) == {
        "prompt_tokens": 5,
        "completion_tokens": 4,
        "total_tokens": 9,
    }
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (50, 7)
    assert fake.prompt_tokens_served == 55
    assert fake.completion_tokens_served == 11


@pytest.mark.anyio
async def test_tool_calls_reasoning_and_logprobs_pass_through() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
    logprobs = {"content": [{"token": "ok", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}
    fake = FakeUpstream(
        Reply("", tool_calls=[call], finish_reason="tool_calls", reasoning_content="think")
    )
    fake.enqueue(Reply("ok", logprobs=logprobs))
    async with asgi_client(fake) as client:
        logged = await ask(client)
        tooled = await ask(client)
    assert logged.choices[0].logprobs.content[0].token == "ok"
    message = tooled.choices[0].message
    assert message.content is None
    assert message.tool_calls[0].function.arguments == '{"x": 1}'
    assert message.model_extra["reasoning_content"] == "think"
    assert tooled.choices[0].finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_api_key_is_required_when_configured() -> None:
    fake = FakeUpstream(require_api_key="secret")
    async with asgi_client(fake) as client:
        with pytest.raises(openai.AuthenticationError):
            await ask(client)
        good = openai.AsyncOpenAI(
            base_url="http://fake-upstream/v1", api_key="secret", http_client=fake.asgi_client()
        )
        assert (await ask(good)).choices[0].message.content == "echo: two words"


@pytest.mark.anyio
async def test_unknown_route_is_an_openai_404() -> None:
    async with FakeUpstream().asgi_client() as client:
        response = await client.get("/nothing-here")
        plain = await client.post("http://fake-upstream/chat/completions", json={"messages": USER})
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert plain.status_code == 200


# -- streaming -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stream_reassembles_content_and_ends_with_usage_and_done() -> None:
    text = "  leading spaces, then\nwords  and\ttabs "
    fake = FakeUpstream(text)
    async with http_client(fake) as client:
        stream = await ask(client, n=2, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    contents = {0: "", 1: ""}
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        contents[choice.index] += choice.delta.content or ""
    assert contents == {0: text, 1: text}
    assert len({chunk.id for chunk in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks[:-1] if c.choices[0].finish_reason]
    assert finishes == ["stop", "stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 2 * len(text.split())
    assert fake.completion_tokens_served == chunks[-1].usage.completion_tokens

    events = await sse_events(fake, {"messages": USER, "stream": True})
    assert events[-1] == "[DONE]"
    first = json.loads(events[0])
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"]["role"] == "assistant"
    assert "usage" not in json.loads(events[-2])


@pytest.mark.anyio
async def test_stream_carries_tool_call_and_reasoning_deltas() -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "g", "arguments": "[1, 2]"}}
    fake = FakeUpstream(Reply("", tool_calls=[call], reasoning_content="hmm ok"))
    events = await sse_events(fake, {"messages": USER, "stream": True})
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]]
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    calls = [part for d in deltas for part in d.get("tool_calls", [])]
    assert reasoning == "hmm ok"
    assert {part["index"] for part in calls} == {0}
    assert calls[0]["id"] == "call_9"
    assert calls[0]["function"]["name"] == "g"
    assert "".join(part["function"]["arguments"] for part in calls) == "[1, 2]"


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_status_fault_with_retry_after_then_recovers() -> None:
    fake = FakeUpstream("fine")
    fake.fail_next(Fault(429, headers={"retry-after": "7"}), times=2)
    async with http_client(fake) as client:
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as caught:
                await ask(client)
            assert caught.value.response.headers["retry-after"] == "7"
        assert (await ask(client)).choices[0].message.content == "fine"
    assert [record.status for record in fake.requests] == [429, 429, 200]


@pytest.mark.anyio
async def test_queued_fault_is_consumed_by_one_whole_request() -> None:
    fake = FakeUpstream()
    fake.enqueue(Fault(503, message="overloaded"), "a", "b")
    async with asgi_client(fake) as client:
        with pytest.raises(openai.InternalServerError, match="overloaded"):
            await ask(client, n=2)
        answer = await ask(client, n=2)
    assert [choice.message.content for choice in answer.choices] == ["a", "b"]


@pytest.mark.anyio
async def test_malformed_fault_is_a_200_with_broken_json() -> None:
    fake = FakeUpstream()
    fake.fail_next(Fault(malformed=True))
    async with fake.asgi_client() as client:
        response = await client.post("/chat/completions", json={"messages": USER})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.anyio
@pytest.mark.parametrize("over_http", [True, False])
async def test_drop_fault_is_a_connection_error(over_http: bool) -> None:
    fake = FakeUpstream()
    fake.fail_next(Fault(drop=True))
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            http_client(fake) if over_http else asgi_client(fake)
        )
        with pytest.raises(openai.APIConnectionError):
            await ask(client)
        assert (await ask(client)).choices[0].message.content == "echo: two words"
    assert fake.in_flight == 0


@pytest.mark.anyio
async def test_stream_cut_ends_without_finish_reason_or_done() -> None:
    fake = FakeUpstream("one two three four five six")
    fake.fail_next(Fault(stream_cut=True))
    events = await sse_events(fake, {"messages": USER, "stream": True})
    assert events
    assert "[DONE]" not in events
    assert all(json.loads(e)["choices"][0]["finish_reason"] is None for e in events)
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events)
    assert "one two three four five six".startswith(text)
    assert text != "one two three four five six"
    assert fake.completion_tokens_served == 0


@pytest.mark.anyio
async def test_stall_pauses_a_stream_after_its_first_chunk() -> None:
    fake = FakeUpstream("a b c")
    fake.fail_next(Fault(stall=0.4))
    arrivals: list[float] = []
    async with http_client(fake) as client:
        stream = await ask(client, stream=True)
        async for _ in stream:
            arrivals.append(time.monotonic())
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert gaps[0] >= 0.35
    assert max(gaps[1:]) < 0.2


# -- timing and concurrency ------------------------------------------------------------------


@pytest.mark.anyio
async def test_latency_and_in_flight_with_concurrent_requests() -> None:
    fake = FakeUpstream(latency=0.3)
    peak_seen: list[int] = []
    async with http_client(fake) as client:
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(ask, client)
            await anyio.sleep(0.15)
            peak_seen.append(fake.in_flight)
        elapsed = time.monotonic() - started
    assert peak_seen == [5]
    assert fake.max_in_flight == 5
    assert fake.in_flight == 0
    assert 0.3 <= elapsed < 0.6


@pytest.mark.anyio
async def test_reply_latency_overrides_the_fake_latency() -> None:
    fake = FakeUpstream(latency=5.0)
    fake.enqueue(Reply("quick", latency=0.0))
    started = time.monotonic()
    async with asgi_client(fake) as client:
        answer = await ask(client)
    assert answer.choices[0].message.content == "quick"
    assert time.monotonic() - started < 1.0


@pytest.mark.anyio
async def test_dependent_rounds_counts_sequential_not_concurrent_calls() -> None:
    fake = FakeUpstream(latency=0.05)
    async with asgi_client(fake) as client:
        await ask(client)
        await ask(client)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(ask, client)
    assert fake.call_count == 5
    assert fake.dependent_rounds() == 3
    fake.reset()
    assert (fake.call_count, fake.dependent_rounds(), fake.max_in_flight) == (0, 0, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("over_http", [True, False])
async def test_cancelled_client_call_frees_the_fake_within_a_second(over_http: bool) -> None:
    fake = FakeUpstream(latency=5.0)
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            http_client(fake) if over_http else asgi_client(fake)
        )
        with anyio.move_on_after(0.3):
            await ask(client)
        assert fake.call_count == 1
        for _ in range(100):
            if not fake.in_flight:
                break
            await anyio.sleep(0.01)
        assert fake.in_flight == 0
    (record,) = fake.requests
    assert record.cancelled
    assert record.finished is None


def test_serve_in_thread_works_with_the_sync_client() -> None:
    fake = FakeUpstream("from a thread")
    with fake.serve_in_thread() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
        with client:
            answer = client.chat.completions.create(model="m", messages=USER)
    assert answer.choices[0].message.content == "from a thread"
    assert fake.call_count == 1
