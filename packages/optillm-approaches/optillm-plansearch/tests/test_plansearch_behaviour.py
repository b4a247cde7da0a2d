"""What a client of ``plansearch`` sees: n programs in 4 rounds whatever n is."""

from __future__ import annotations

import itertools
from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_plansearch import plugin

PROBLEM = "Given n integers, print the length of the longest increasing subsequence."


class Script:
    """Replies by step; each first-step choice starts a distinct plan (A, B, C, ...)."""

    def __init__(self, plan: str | Reply | None = None) -> None:
        self.letters = itertools.count()
        self.plan = plan

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        text = str(body["messages"][-1]["content"])
        if "Combine and build" in text:
            idea = text.split("idea ")[1][0]
            return f"1. derived {idea}1\n2. derived {idea}2"
        if "describe a complete solution" in text:
            return self.plan or f"Plan {text.split('idea ')[1][0]}: patience sorting."
        if "Implement exactly" in text:
            return f"```python\nprint('{text.split('Plan ')[1][0]}')\n```"
        letter = "ABCDEFGH"[next(self.letters)]
        return f"Observations:\n1. idea {letter}1\n2. idea {letter}2\n3. idea {letter}3"


async def ask(fake: FakeUpstream, **options: Any) -> Any:
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="plansearch-fake-model",
            messages=[
                {"role": "system", "content": "You are a competitive programmer."},
                {"role": "user", "content": PROBLEM},
            ],
            **options,
        )


@pytest.mark.anyio
async def test_three_plans_in_four_rounds_with_native_n() -> None:
    fake = FakeUpstream(Script(), latency=0.05)
    response = await ask(fake, n=3, temperature=0.8)
    contents = [c.message.content for c in response.choices]
    assert contents == [f"```python\nprint('{x}')\n```" for x in "ABC"]
    assert fake.dependent_rounds() == 4
    assert fake.call_count == 1 + 3 * 3
    assert fake.bodies[0]["n"] == 3
    assert all(b["temperature"] == 0.8 for b in fake.bodies)
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_three_plans_in_four_rounds_without_native_n() -> None:
    fake = FakeUpstream(Script(), supports_n=False, latency=0.05)
    response = await ask(fake, n=3)
    assert len(response.choices) == 3
    assert fake.dependent_rounds() == 4
    assert fake.call_count == 4 * 3
    assert all("n" not in b for b in fake.bodies)


@pytest.mark.anyio
async def test_each_step_builds_on_the_previous_one() -> None:
    fake = FakeUpstream(Script(), latency=0.01)
    response = await ask(fake)
    assert response.choices[0].message.content == "```python\nprint('A')\n```"
    observe, derive, plan, code = (b["messages"] for b in fake.bodies)
    for messages in (observe, derive, plan, code):
        assert messages[0] == {"role": "system", "content": "You are a competitive programmer."}
        assert PROBLEM in messages[1]["content"]
    assert "list 3 observations" in observe[1]["content"]
    assert "1. idea A1\n2. idea A2\n3. idea A3" in derive[1]["content"]
    assert "find 2 new observations" in derive[1]["content"]
    assert "3. idea A3\n4. derived A1\n5. derived A2" in plan[1]["content"]
    assert "Plan A: patience sorting." in code[1]["content"]
    assert all(b["max_tokens"] == 4096 for b in fake.bodies)


@pytest.mark.anyio
async def test_parameters_change_the_steps() -> None:
    fake = FakeUpstream(Script(), latency=0.05)
    await ask(fake, extra_body={"num_observations": 5, "num_derived_observations": 0})
    assert fake.call_count == 3
    assert fake.dependent_rounds() == 3
    assert "list 5 observations" in fake.bodies[0]["messages"][1]["content"]


@pytest.mark.anyio
async def test_a_cut_off_plan_is_an_error() -> None:
    fake = FakeUpstream(Script(plan=Reply("Plan A: first sort the", finish_reason="length")))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert "plan in words" in raised.value.message


@pytest.mark.anyio
async def test_empty_observations_are_an_error() -> None:
    fake = FakeUpstream("")
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_cut_off_code_is_returned_marked_length() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        "1. idea", "1. more", "Plan: loop.", Reply("```python\nfor i in", finish_reason="length")
    )
    response = await ask(fake)
    assert response.choices[0].message.content == "```python\nfor i in"
    assert response.choices[0].finish_reason == "length"
