"""The egress guarantee: no raw PII value reaches the upstream, through ``privacy&none``, a
multi-call approach and a stream — and the client still gets the values back."""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Callable
from typing import Any

import pytest
from privacy_testkit import (
    PII,
    PLACEHOLDER,
    SHARED,
    echo_placeholders,
    leaked,
    pii_chat_messages,
    pii_messages,
)

from optillm_core import Approach, ApproachResult, RequestContext, gather, hookimpl
from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client, served_proxy


@pytest.fixture(autouse=True, scope="module")
def _warm_analyzer() -> None:
    SHARED.processor.warm()


class TwoCalls(Approach):
    """Stand-in for a multi-call approach: two drafts concurrently, then a final call that
    sees both drafts (the drafts carry placeholders from the upstream's replies)."""

    slug = "two_calls"
    summary = "Two drafts, then a combining call (test stand-in for moa)."

    async def run(self, ctx: RequestContext) -> ApproachResult:
        drafts = await gather(functools.partial(ctx.complete), functools.partial(ctx.complete))
        final = [
            *ctx.messages,
            {"role": "user", "content": "Drafts:\n" + "\n".join(d.text for d in drafts)},
        ]
        return ApproachResult.text((await ctx.complete(final)).text)


class StandIn:
    @hookimpl
    def register_approaches(self, register: Callable[[Any], None]) -> None:
        register(TwoCalls())


def multi_call_plugins() -> list[tuple[object, str]]:
    """The stand-in approach, and ``optillm-moa`` too when it is installed."""
    plugins: list[tuple[object, str]] = [(StandIn(), "two_calls")]
    if importlib.util.find_spec("optillm_moa") is not None:
        import optillm_moa.plugin as moa_plugin

        plugins.append((moa_plugin, "moa"))
    return plugins


def assert_all_values_back(text: str) -> None:
    missing = [value for value in PII.values() if value not in text]
    assert not missing, f"the client did not get these values back: {missing}"
    assert not PLACEHOLDER.search(text), "a placeholder reached the client"


@pytest.mark.anyio
async def test_privacy_and_none_masks_every_text_and_restores_the_answer() -> None:
    fake = FakeUpstream(echo_placeholders)
    async with openai_client(make_app(fake, [SHARED])) as client:
        response = await client.chat.completions.create(
            model="privacy&none-fake-model",
            messages=pii_messages(),
            user=PII["email"],
            metadata={"ticket": f"from {PII['email2']}"},
        )
    assert fake.call_count == 1
    assert leaked(fake.bodies) == []
    body = fake.bodies[0]
    assert "name" not in body["messages"][1]
    assert PLACEHOLDER.fullmatch(body["user"])
    arguments = json.loads(body["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert PLACEHOLDER.fullmatch(arguments["email"])
    assert_all_values_back(response.choices[0].message.content or "")


@pytest.mark.anyio
async def test_the_same_value_gets_the_same_placeholder() -> None:
    fake = FakeUpstream("ok")
    async with openai_client(make_app(fake, [SHARED])) as client:
        await client.chat.completions.create(model="privacy-fake-model", messages=pii_messages())
    body = json.dumps(fake.bodies[0])
    # alice's address is in the system prompt and in the tool-call arguments
    system = fake.bodies[0]["messages"][0]["content"]
    first, second = PLACEHOLDER.findall(system)
    assert first != second  # two different addresses
    assert body.count(first) == 2
    assert len({p[-7:] for p in PLACEHOLDER.findall(body)}) == 1  # one tag per request


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("plugin", "slug"), multi_call_plugins())
async def test_multi_call_approach_behind_privacy_never_sees_raw_values(
    plugin: object, slug: str, stream: bool
) -> None:
    fake = FakeUpstream(echo_placeholders)
    async with openai_client(make_app(fake, [SHARED, plugin])) as client:
        response = await client.chat.completions.create(
            model=f"privacy&{slug}-fake-model", messages=pii_chat_messages(), stream=stream
        )
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in response if c.choices])
        else:
            text = response.choices[0].message.content or ""
    assert fake.call_count >= (3 if slug == "moa" else 2)
    assert leaked(fake.bodies) == []
    assert_all_values_back(text)


@pytest.mark.anyio
async def test_streamed_answer_is_restored_and_upstream_sees_no_raw_value() -> None:
    fake = FakeUpstream(echo_placeholders)
    async with openai_client(make_app(fake, [SHARED])) as client:
        stream = await client.chat.completions.create(
            model="privacy-fake-model", messages=pii_messages(), stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert fake.bodies[0]["stream"] is True
    assert leaked(fake.bodies) == []
    assert_all_values_back(text)


def _tool_reply(body: dict[str, Any]) -> Reply:
    placeholder = PLACEHOLDER.findall(json.dumps(body))[0]
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "send_mail", "arguments": json.dumps({"to": placeholder})},
    }
    return Reply(f"Mailing {placeholder}.", tool_calls=[call], finish_reason="tool_calls")


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_tool_call_arguments_are_restored(stream: bool) -> None:
    fake = FakeUpstream(_tool_reply)
    messages = [{"role": "user", "content": f"Mail {PII['email']} the report."}]
    async with openai_client(make_app(fake, [SHARED])) as client:
        response = await client.chat.completions.create(
            model="privacy-fake-model", messages=messages, stream=stream
        )
        if stream:
            arguments, content = "", ""
            async for chunk in response:
                for choice in chunk.choices:
                    content += choice.delta.content or ""
                    for call in choice.delta.tool_calls or []:
                        arguments += (call.function and call.function.arguments) or ""
        else:
            message = response.choices[0].message
            content, arguments = message.content or "", message.tool_calls[0].function.arguments
    assert leaked(fake.bodies) == []
    assert json.loads(arguments) == {"to": PII["email"]}
    assert content == f"Mailing {PII['email']}."


@pytest.mark.anyio
async def test_privacy_and_none_end_to_end_over_loopback() -> None:
    """The real openai client → our server on a loopback port → FakeUpstream over HTTP."""
    fake = FakeUpstream(echo_placeholders)
    async with served_proxy(fake, [SHARED]) as proxy:
        response = await proxy.client.chat.completions.create(
            model="privacy&none-fake-model", messages=pii_messages()
        )
        served = fake.prompt_tokens_served
        stream = await proxy.client.chat.completions.create(
            model="privacy&none-fake-model", messages=pii_messages(), stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert fake.call_count == 2
    assert leaked(fake.bodies) == []
    assert_all_values_back(response.choices[0].message.content or "")
    assert_all_values_back(streamed)
    assert response.usage.prompt_tokens == served
