"""Behaviour of ``majority_voting``: the vote, its fallbacks, ``n``, rounds and parameters."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_majority_voting import plugin

QUESTION = "A farmer has 17 sheep and buys 25 more. How many sheep are there now?"


async def ask(fake: FakeUpstream, app_options: dict[str, Any] | None = None, **options: Any) -> Any:
    body = {"optillm_approach": "majority_voting", **options.pop("extra_body", {})}
    async with openai_client(make_app(fake, [plugin], **(app_options or {}))) as client:
        return await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body=body,
            **options,
        )


@pytest.mark.anyio
async def test_returns_the_majority_answer_among_differently_worded_samples() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        "17 + 25 = 41, so there are 41 sheep.",
        "Adding them up, the answer is 42.",
        "After buying more: **Final answer: 42 sheep**",
        "We have 17 + 25 sheep, which is $\\boxed{42}$.",
        "There are 43 sheep.",
    )
    response = await ask(fake, extra_body={"k": 5})
    assert [c.message.content for c in response.choices] == ["Adding them up, the answer is 42."]
    assert fake.call_count == 1
    assert fake.bodies[0]["n"] == 5
    assert "k" not in fake.bodies[0]


@pytest.mark.anyio
async def test_a_tie_goes_to_the_answer_seen_first() -> None:
    fake = FakeUpstream()
    fake.enqueue("Answer: 43", "Answer: 42", "The answer is 42", "So the answer is 43.")
    response = await ask(fake, extra_body={"k": 4})
    assert response.choices[0].message.content == "Answer: 43"


@pytest.mark.anyio
async def test_samples_cut_by_the_length_limit_do_not_vote() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        Reply("So far the answer is 7", finish_reason="length"),
        Reply("The answer is 7 and", finish_reason="length"),
        Reply("Partial: answer is 7", finish_reason="length"),
        "The answer is 42.",
        "Therefore the answer is 42",
    )
    response = await ask(fake, extra_body={"k": 5})
    assert response.choices[0].message.content == "The answer is 42."


@pytest.mark.anyio
async def test_when_every_sample_is_cut_the_first_is_returned_marked_length() -> None:
    fake = FakeUpstream(Reply("The answer is", finish_reason="length"))
    fake.enqueue(Reply("first cut", finish_reason="length"))
    response = await ask(fake, extra_body={"k": 3})
    assert response.choices[0].message.content == "first cut"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_empty_samples_are_an_error_not_an_answer() -> None:
    fake = FakeUpstream(Reply(""))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake, extra_body={"k": 3})
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_without_any_stated_answer_the_first_sample_is_returned() -> None:
    fake = FakeUpstream()
    fake.enqueue("Sheep are lovely.", "I cannot count sheep.", "Many sheep.")
    response = await ask(fake, extra_body={"k": 3, "answer_kind": "math"})
    assert response.choices[0].message.content == "Sheep are lovely."


@pytest.mark.anyio
async def test_one_dependent_round_with_native_n() -> None:
    fake = FakeUpstream("The answer is 42.", latency=0.05)
    await ask(fake)
    assert fake.call_count == 1
    assert fake.bodies[0]["n"] == 8
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_without_native_n_the_samples_fan_out_in_one_round() -> None:
    fake = FakeUpstream(supports_n=False, latency=0.05)
    fake.enqueue("The answer is 41.", "answer: 42", "It is 42.", "42 sheep: the answer is 42")
    response = await ask(fake, extra_body={"k": 4})
    assert response.choices[0].message.content == "answer: 42"
    assert fake.call_count == 4
    assert all("n" not in body for body in fake.bodies)
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_n_runs_independent_votes_over_disjoint_groups_in_one_call() -> None:
    fake = FakeUpstream(latency=0.05)
    fake.enqueue("answer: 1", "answer: 2", "answer: 2", "answer: 3", "answer: 3", "answer: 4")
    response = await ask(fake, n=2, extra_body={"k": 3})
    assert [c.message.content for c in response.choices] == ["answer: 2", "answer: 3"]
    assert fake.call_count == 1
    assert fake.bodies[0]["n"] == 6
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_sampling_parameters_follow_the_request_with_reference_defaults() -> None:
    fake = FakeUpstream("answer: 1")
    await ask(fake, extra_body={"k": 2})
    assert fake.bodies[0]["temperature"] == 0.6
    assert fake.bodies[0]["max_tokens"] == 4096
    fake.reset()
    await ask(fake, temperature=0.2, max_tokens=50, extra_body={"k": 2})
    assert fake.bodies[0]["temperature"] == 0.2
    assert fake.bodies[0]["max_tokens"] == 50


@pytest.mark.anyio
async def test_k_comes_from_the_request_over_the_server_setting() -> None:
    server = {"plugin_options": {"majority_voting": {"k": 3}}}
    fake = FakeUpstream("answer: 1")
    await ask(fake, server)
    assert fake.bodies[-1]["n"] == 3
    await ask(fake, server, extra_body={"k": 5})
    assert fake.bodies[-1]["n"] == 5
    await ask(fake, server, extra_body={"optillm": {"majority_voting": {"k": 2}}})
    assert fake.bodies[-1]["n"] == 2


@pytest.mark.anyio
async def test_k_out_of_bounds_is_a_400() -> None:
    with pytest.raises(openai.BadRequestError):
        await ask(FakeUpstream("answer: 1"), extra_body={"k": 0})
