"""End to end: the real openai client → our server on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, serve_app


@pytest.fixture
async def served():
    fake = FakeUpstream(lambda body: f"answer to: {body['messages'][-1]['content']}")
    async with fake.serve() as upstream_url:
        app = make_app(fake, base_url=upstream_url)
        async with serve_app(app) as proxy_url:
            client = openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0)
            async with client:
                yield fake, client


@pytest.mark.anyio
async def test_non_streaming(served) -> None:
    fake, client = served
    response = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hello there"}]
    )
    assert response.choices[0].message.content == "answer to: hello there"
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.model == "fake-model"
    assert fake.bodies[0]["model"] == "fake-model"


@pytest.mark.anyio
async def test_streaming(served) -> None:
    fake, client = served
    stream = await client.chat.completions.create(
        model="none-fake-model",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "answer to: stream me"
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].usage.completion_tokens == fake.completion_tokens_served
    assert fake.bodies[0]["model"] == "fake-model"


@pytest.mark.anyio
async def test_n_three(served) -> None:
    fake, client = served
    fake.enqueue("one", "two", Reply("three"))
    response = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "x"}], n=3
    )
    assert [c.message.content for c in response.choices] == ["one", "two", "three"]
    assert fake.call_count == 1
