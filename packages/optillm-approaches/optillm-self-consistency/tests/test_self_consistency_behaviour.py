"""Behaviour of ``self_consistency``: the majority answer, one round, fallbacks, parameters."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_self_consistency import plugin

QUESTION = "What is 6 times 7?"
DISAGREEING = [
    "I think 41",
    "so the answer is 42",
    "6 x 7: 42 is it: \\boxed{42}",
    "Maybe 40?",
    "Multiplying gives 7+7+7+7+7+7 = 42",
]


async def ask(fake: FakeUpstream, **kw: Any) -> Any:
    settings = kw.pop("settings", {})
    async with openai_client(make_app(fake, [plugin], **settings)) as client:
        return await client.chat.completions.create(
            model="self_consistency-fake-model",
            messages=kw.pop("messages", [{"role": "user", "content": QUESTION}]),
            **kw,
        )


@pytest.mark.anyio
async def test_returns_the_majority_answer_worded_differently() -> None:
    fake = FakeUpstream()
    fake.enqueue(*DISAGREEING)
    response = await ask(fake)
    # 42 wins 3 to 1 to 1; the first sample that said 42 is returned, not the first sample.
    assert response.choices[0].message.content == "so the answer is 42"
    assert fake.call_count == 1
    body = fake.bodies[0]
    assert body["n"] == 5
    assert body["temperature"] == 1.0
    assert body["max_tokens"] == 4096
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
@pytest.mark.parametrize(("supports_n", "calls"), [(True, 1), (False, 5)])
async def test_one_dependent_round(supports_n: bool, calls: int) -> None:
    fake = FakeUpstream("the answer is 42", latency=0.05, supports_n=supports_n)
    response = await ask(fake)
    assert response.choices[0].message.content == "the answer is 42"
    assert fake.dependent_rounds() == 1
    assert fake.call_count == calls
    assert all(int(b.get("n") or 1) == (5 if supports_n else 1) for b in fake.bodies)


@pytest.mark.anyio
async def test_whole_text_similarity_when_no_answer_can_be_read() -> None:
    fake = FakeUpstream()
    fake.enqueue("Paris, surely.", "Rome is the capital.", "Madrid", "Rome is the capital!", "Rome")
    response = await ask(fake, messages=[{"role": "user", "content": "Capital of Italy?"}])
    assert response.choices[0].message.content == "Rome is the capital."


@pytest.mark.anyio
async def test_similarity_threshold_is_a_parameter() -> None:
    fake = FakeUpstream()
    fake.enqueue("Paris, surely.", "Rome is the capital.", "Madrid", "Rome is the capital!", "Rome")
    response = await ask(
        fake,
        messages=[{"role": "user", "content": "Capital of Italy?"}],
        extra_body={"similarity_threshold": 1.0},
    )
    assert response.choices[0].message.content == "Paris, surely."  # no two texts identical


@pytest.mark.anyio
async def test_text_kind_votes_on_whole_texts_like_the_reference() -> None:
    fake = FakeUpstream()
    fake.enqueue("so the answer is 42", "I think 41", "I think 41.", "it is 42", "42 it is")
    response = await ask(
        fake, extra_body={"optillm": {"self_consistency": {"answer_kind": "text"}}}
    )
    assert response.choices[0].message.content == "I think 41"


@pytest.mark.anyio
async def test_mcq_answers() -> None:
    fake = FakeUpstream()
    fake.enqueue("The answer is (B).", "I pick C", "**B**", "Answer: B", "A")
    response = await ask(fake, extra_body={"answer_kind": "mcq"})
    assert response.choices[0].message.content == "The answer is (B)."


@pytest.mark.anyio
async def test_samples_cut_at_the_length_limit_do_not_vote() -> None:
    fake = FakeUpstream()
    cut = [Reply(f"{i}: the answer is 41 but wa", finish_reason="length") for i in range(3)]
    fake.enqueue(*cut, "the answer is 42", "it is \\boxed{42}")
    response = await ask(fake)
    assert response.choices[0].message.content == "the answer is 42"
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_when_every_sample_is_cut_the_first_is_returned_as_truncated() -> None:
    fake = FakeUpstream(Reply("6 times 7 is", finish_reason="length"))
    response = await ask(fake)
    assert response.choices[0].message.content == "6 times 7 is"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_no_content_at_all_is_a_502() -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(FakeUpstream(""))
    assert raised.value.status_code == 502


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra_body", "settings", "expected"),
    [
        ({"samples": 3}, {}, 3),
        ({"optillm": {"self_consistency": {"samples": 7}}}, {}, 7),
        ({}, {"plugin_options": {"self_consistency": {"samples": "9"}}}, 9),
    ],
)
async def test_sample_count_is_a_parameter(
    extra_body: dict[str, Any], settings: dict[str, Any], expected: int
) -> None:
    fake = FakeUpstream("the answer is 42")
    await ask(fake, extra_body=extra_body, settings=settings)
    assert fake.bodies[0]["n"] == expected
    assert "samples" not in fake.bodies[0]


@pytest.mark.anyio
async def test_stop_and_conversation_reach_the_samples() -> None:
    fake = FakeUpstream("the answer is 42")
    messages = [
        {"role": "system", "content": "Think step by step."},
        {"role": "user", "content": QUESTION},
    ]
    await ask(fake, messages=messages, stop=["###"], max_tokens=128, temperature=0.0)
    body = fake.bodies[0]
    assert body["messages"] == messages
    assert body["stop"] == ["###"]
    assert body["max_tokens"] == 128
    assert body["temperature"] == 1.0  # diversity is the point; sample_temperature sets it
