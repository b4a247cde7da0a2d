"""Behaviour of ``moa``: what the critique and final prompts carry, rounds, fallbacks, params."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core.models import message_text
from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_moa import plugin

QUESTION = "Why is the sky blue?"
DRAFTS = ["Draft-A: Rayleigh scattering.", "Draft-B: It reflects the ocean.", "Draft-C: Ozone."]
CRITIQUE = "CRITIQUE: A is right, B is a myth, C is wrong."
FINAL = "Sunlight scatters off air molecules; blue light scatters most (Rayleigh scattering)."


def stage_of(body: dict[str, Any]) -> str:
    """Which moa call a request is: draft, critique or final."""
    text = message_text(body["messages"][-1])
    if "Do not answer the request yourself" in text:
        return "critique"
    if "write the single best response" in text:
        return "final"
    return "draft"


class Script:
    """Drafts in order, then the critique and the final answer."""

    def __init__(
        self,
        drafts: list[str | Reply] | None = None,
        critique: str | Reply = CRITIQUE,
        final: str | Reply = FINAL,
    ) -> None:
        self.drafts = list(DRAFTS if drafts is None else drafts)
        self.critique = critique
        self.final = final
        self.drawn = 0

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        stage = stage_of(body)
        if stage == "critique":
            return self.critique
        if stage == "final":
            return self.final
        draft = self.drafts[self.drawn % len(self.drafts)]
        self.drawn += 1
        return draft


def calls(fake: FakeUpstream, stage: str) -> list[dict[str, Any]]:
    return [body for body in fake.bodies if stage_of(body) == stage]


def last_text(body: dict[str, Any]) -> str:
    return message_text(body["messages"][-1])


async def ask(fake: FakeUpstream, messages: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    settings = kw.pop("settings", {})
    async with openai_client(make_app(fake, [plugin], **settings)) as client:
        return await client.chat.completions.create(
            model="moa-fake-model",
            messages=messages or [{"role": "user", "content": QUESTION}],
            **kw,
        )


@pytest.mark.anyio
async def test_final_prompt_carries_every_draft_and_the_critique() -> None:
    fake = FakeUpstream(Script())
    response = await ask(fake)
    assert response.choices[0].message.content == FINAL
    (draft_call,) = calls(fake, "draft")
    (critique_call,) = calls(fake, "critique")
    (final_call,) = calls(fake, "final")
    assert draft_call["n"] == 3
    assert draft_call["temperature"] == 1.0
    assert draft_call["max_tokens"] == 4096
    assert critique_call["max_tokens"] == 512
    assert critique_call["temperature"] == 0.1
    assert final_call["temperature"] == 0.1
    assert final_call["max_tokens"] == 4096
    for draft in DRAFTS:
        assert last_text(critique_call).count(draft) == 1
        assert last_text(final_call).count(draft) == 1
    assert CRITIQUE in last_text(final_call)
    assert last_text(final_call).startswith(QUESTION)
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
@pytest.mark.parametrize(("supports_n", "expected_calls"), [(True, 3), (False, 5)])
async def test_three_dependent_rounds(supports_n: bool, expected_calls: int) -> None:
    fake = FakeUpstream(Script(), latency=0.05, supports_n=supports_n)
    response = await ask(fake)
    assert response.choices[0].message.content == FINAL
    assert fake.dependent_rounds() == 3
    assert fake.call_count == expected_calls
    if not supports_n:
        assert all(int(body.get("n") or 1) == 1 for body in fake.bodies)
    for draft in DRAFTS:
        assert draft in last_text(calls(fake, "final")[0])


@pytest.mark.anyio
async def test_missing_drafts_are_not_padded_with_duplicates() -> None:
    fake = FakeUpstream(Script(["", DRAFTS[1], "   "]))
    response = await ask(fake)
    assert response.choices[0].message.content == FINAL
    for stage in ("critique", "final"):
        prompt = last_text(calls(fake, stage)[0])
        assert prompt.count(DRAFTS[1]) == 1
        assert prompt.count("<draft id=") == 1
    assert "one draft response" in last_text(calls(fake, "critique")[0])


@pytest.mark.anyio
async def test_no_draft_at_all_is_a_502() -> None:
    fake = FakeUpstream(Script(["", "", ""]))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_truncated_drafts_are_kept_and_marked() -> None:
    cut = Reply("Draft-A: Rayleigh scatt", finish_reason="length")
    fake = FakeUpstream(Script([cut, DRAFTS[1], DRAFTS[2]]))
    await ask(fake)
    for stage in ("critique", "final"):
        prompt = last_text(calls(fake, stage)[0])
        assert prompt.count("cut off at the token limit") == 1
        assert '<draft id="1" status="cut off at the token limit, incomplete">' in prompt


@pytest.mark.anyio
async def test_an_empty_critique_is_left_out_of_the_final_prompt() -> None:
    fake = FakeUpstream(Script(critique=""))
    response = await ask(fake)
    assert response.choices[0].message.content == FINAL
    final_prompt = last_text(calls(fake, "final")[0])
    assert "<review" not in final_prompt
    assert all(draft in final_prompt for draft in DRAFTS)


@pytest.mark.anyio
async def test_an_empty_final_answer_falls_back_to_the_first_complete_draft() -> None:
    cut = Reply("Draft-A: Rayl", finish_reason="length")
    fake = FakeUpstream(Script([cut, DRAFTS[1], DRAFTS[2]], final=""))
    response = await ask(fake)
    assert response.choices[0].message.content == DRAFTS[1]
    assert fake.call_count == 3
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_a_truncated_final_answer_says_so() -> None:
    fake = FakeUpstream(Script(final=Reply("Sunlight scatt", finish_reason="length")))
    response = await ask(fake)
    assert response.choices[0].message.content == "Sunlight scatt"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_streaming_streams_the_final_call() -> None:
    fake = FakeUpstream(Script())
    stream = await ask(fake, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FINAL
    final_call = calls(fake, "final")[0]
    assert final_call["stream"] is True
    assert fake.call_count == 3
    assert chunks[-1].usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_conversation_system_prompt_and_images_reach_every_call() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [
        {"role": "system", "content": "Answer like a pirate."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Ahoy!"},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}, image]},
    ]
    fake = FakeUpstream(Script())
    await ask(fake, messages)
    for body in fake.bodies:
        assert body["messages"][:3] == messages[:3]
        last = body["messages"][-1]
        assert last["role"] == "user"
        assert last["content"][:2] == messages[3]["content"]
    assert calls(fake, "draft")[0]["messages"] == messages


@pytest.mark.anyio
async def test_stop_and_response_format_reach_only_the_final_call() -> None:
    fake = FakeUpstream(Script())
    await ask(fake, stop=["END"], response_format={"type": "json_object"}, max_tokens=700)
    final_call = calls(fake, "final")[0]
    assert final_call["stop"] == ["END"]
    assert final_call["response_format"] == {"type": "json_object"}
    assert final_call["max_tokens"] == 700
    assert calls(fake, "draft")[0]["max_tokens"] == 700
    for stage in ("draft", "critique"):
        assert "stop" not in calls(fake, stage)[0]
        assert "response_format" not in calls(fake, stage)[0]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "extra_body",
    [
        {"candidates": 5, "critique_max_tokens": 100},
        {"optillm": {"moa": {"candidates": 5, "critique_max_tokens": 100}}},
    ],
)
async def test_candidates_and_critique_budget_are_parameters(extra_body: dict[str, Any]) -> None:
    fake = FakeUpstream(Script(["d1", "d2", "d3", "d4", "d5"]))
    await ask(fake, extra_body=extra_body)
    assert calls(fake, "draft")[0]["n"] == 5
    assert calls(fake, "critique")[0]["max_tokens"] == 100
    assert last_text(calls(fake, "final")[0]).count("<draft id=") == 5
    assert all("candidates" not in body for body in fake.bodies)


@pytest.mark.anyio
async def test_server_options_set_the_defaults() -> None:
    fake = FakeUpstream(Script(["d1", "d2"]))
    settings = {"plugin_options": {"moa": {"candidates": "2", "critique_max_tokens": "64"}}}
    await ask(fake, settings=settings)
    assert calls(fake, "draft")[0]["n"] == 2
    assert calls(fake, "critique")[0]["max_tokens"] == 64


@pytest.mark.anyio
async def test_a_budget_too_small_for_the_critique_returns_the_first_draft() -> None:
    fake = FakeUpstream(Script())
    response = await ask(fake, settings={"max_upstream_calls": 1})
    assert response.choices[0].message.content == DRAFTS[0]
    assert fake.call_count == 1
