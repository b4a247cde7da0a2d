"""End to end: the real openai client → our server on a loopback port → FakeUpstream over HTTP."""

from __future__ import annotations

import types
from typing import Any

import httpx
import pytest

from optillm_core import Approach, ApproachResult, RequestContext, hookimpl
from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    Reply,
    selection_kwargs,
    served_proxy,
)


@pytest.fixture
async def served():
    fake = FakeUpstream(lambda body: f"answer to: {body['messages'][-1]['content']}")
    async with served_proxy(fake) as proxy:
        yield fake, proxy.client


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


@pytest.mark.anyio
async def test_served_proxy_serves_both_sides_on_loopback_and_closes_them() -> None:
    fake = FakeUpstream("hi")
    async with served_proxy(fake, optillm_api_key="k") as proxy:  # the client's key
        assert proxy.fake is fake
        assert proxy.proxy_url.startswith("http://127.0.0.1:")
        assert proxy.upstream_url.startswith("http://127.0.0.1:")
        assert proxy.proxy_url != proxy.upstream_url
        assert proxy.client.max_retries == 0
        assert str(proxy.client.base_url).rstrip("/") == proxy.proxy_url
        async with httpx.AsyncClient() as raw:
            body = {"model": "fake-model", "messages": USER}
            direct = await raw.post(f"{proxy.upstream_url}/chat/completions", json=body)
            keyless = await raw.post(f"{proxy.proxy_url}/chat/completions", json=body)
        assert direct.json()["choices"][0]["message"]["content"] == "hi"
        assert keyless.status_code == 401  # the settings reached the app
        response = await proxy.client.chat.completions.create(model="fake-model", messages=USER)
        assert response.choices[0].message.content == "hi"
        assert fake.call_count == 2
        assert proxy.app.state.server.metrics.requests[("none", 200)] == 1
    assert proxy.client.is_closed()
    async with httpx.AsyncClient(base_url=proxy.proxy_url) as raw:
        with pytest.raises(httpx.ConnectError):
            await raw.get("/models")


USER = [{"role": "user", "content": "hello there"}]


class Shout(Approach):
    """Asks upstream once and upper-cases the answer."""

    slug = "shout"
    summary = "upper-cases the upstream answer"

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """One upstream call with the request's messages and top_k."""
        reply = await ctx.complete(ctx.messages, **ctx.request_params(["top_k"]))
        return ApproachResult.text(reply.text.upper())


@hookimpl
def _register(register: Any) -> None:
    register(Shout())


SHOUT = types.SimpleNamespace(register_approaches=_register)


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_selection_kwargs_select_the_approach_and_reach_the_upstream_clean(
    way: str,
) -> None:
    messages = [{"role": "system", "content": "Be terse."}, *USER]
    fake = FakeUpstream("quiet")
    async with served_proxy(fake, [SHOUT]) as proxy:
        raw = await proxy.client.chat.completions.with_raw_response.create(
            **selection_kwargs("shout", way, messages, extra_body={"top_k": 5})
        )
    assert raw.headers["x-optillm-approach"] == "shout"
    assert raw.parse().choices[0].message.content == "QUIET"
    assert messages == [{"role": "system", "content": "Be terse."}, *USER]  # not mutated
    (body,) = fake.bodies
    assert body["model"] == "fake-model"
    assert body["top_k"] == 5
    assert "optillm_approach" not in body
    assert body["messages"] == [{"role": "system", "content": "Be terse."}, *USER]


def test_selection_kwargs_tags_the_last_user_message_without_a_system_message() -> None:
    conversation = [*USER, {"role": "assistant", "content": "hi"}, {"role": "user", "content": "q"}]
    kwargs = selection_kwargs("bon", "message tag", conversation)
    assert kwargs["model"] == "fake-model"
    assert kwargs["extra_body"] == {}
    assert [m["content"] for m in kwargs["messages"]] == [
        "hello there",
        "hi",
        "<optillm_approach>bon</optillm_approach> q",
    ]
    assert selection_kwargs("bon", "model prefix", USER)["model"] == "bon-fake-model"
    with pytest.raises(ValueError, match="sideways"):
        selection_kwargs("bon", "sideways", USER)  # type: ignore[arg-type]
