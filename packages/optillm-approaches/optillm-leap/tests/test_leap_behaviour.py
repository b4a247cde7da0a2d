"""What a client of ``leap`` sees, and how many calls and rounds it costs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_leap import plugin

QUERY = "Q: 2 + 3 = ?\nA: 5\nQ: 4 * 2 = ?\nA: 8\nQ: 9 - 7 = ?\nA: 2\nQ: 6 * 7 = ?\nA:"
EXAMPLES = [("2 + 3 = ?", "5"), ("4 * 2 = ?", "8"), ("9 - 7 = ?", "2")]
EXTRACTED = (
    "<output>" + json.dumps([{"question": q, "answer": a} for q, a in EXAMPLES]) + "</output>"
)
# the model's (deliberately flawed) answers: wrong, right by accident, wrong
ATTEMPTS = {"2 + 3": "6", "4 * 2": "8", "9 - 7": "3"}
CONDENSED = "<output>\n1. Recompute every step.\n2. Check the operator.\n</output>"


@dataclass
class Script:
    """Scripted upstream replies, chosen by what each prompt asks for."""

    extraction: str | Reply = EXTRACTED
    condensed: str | Reply = CONDENSED
    final: str = "42"
    seen: list[str] = field(default_factory=list)

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        text = str(body["messages"][-1]["content"])
        if "worked examples" in text:
            self.seen.append("extract")
            return self.extraction
        if "make the kind of mistake" in text:
            self.seen.append("mistake")
            key = next(k for k in ATTEMPTS if k in text)
            return f"Step by step, {key} is {ATTEMPTS[key]}.\n<output>{ATTEMPTS[key]}</output>"
        if "Flawed solution" in text:
            self.seen.append("principle")
            key = next(k for k in ATTEMPTS if k in text)
            return f"The slip was in {key}.\n<output>Lesson from {key}.</output>"
        if "Merge them into at most" in text:
            self.seen.append("condense")
            return self.condensed
        self.seen.append("final")
        return self.final


async def ask(fake: FakeUpstream, query: str = QUERY, **options: Any) -> Any:
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="leap-fake-model",
            messages=[
                {"role": "system", "content": "Answer with a number."},
                {"role": "user", "content": query},
            ],
            **options,
        )


def final_system(fake: FakeUpstream) -> str:
    return str(fake.bodies[-1]["messages"][0]["content"])


@pytest.mark.anyio
async def test_several_examples_learn_concurrently_in_five_rounds() -> None:
    script = Script()
    fake = FakeUpstream(script, latency=0.05)
    response = await ask(fake)
    assert response.choices[0].message.content == "42"
    # 1 extraction + 3 mistakes + 2 principles (one example was answered right) + 1 + 1
    assert fake.call_count == 8
    assert sorted(script.seen) == sorted(
        ["extract", "mistake", "mistake", "mistake", "principle", "principle", "condense", "final"]
    )
    assert fake.dependent_rounds() == 5
    assert fake.max_in_flight >= 2  # the examples' calls overlapped
    system = final_system(fake)
    assert system.startswith("Answer with a number.")
    assert "1. Recompute every step.\n2. Check the operator." in system
    condense_prompt = str(fake.bodies[-2]["messages"][-1]["content"])
    assert "Lesson from 2 + 3." in condense_prompt
    assert "Lesson from 9 - 7." in condense_prompt
    assert "4 * 2" not in condense_prompt
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_mistake_calls_use_the_mistake_temperature() -> None:
    fake = FakeUpstream(Script())
    await ask(fake, extra_body={"mistake_temperature": 0.9})
    temperatures = [
        b.get("temperature")
        for b in fake.bodies
        if "make the kind of mistake" in str(b["messages"][-1]["content"])
    ]
    assert temperatures == [0.9, 0.9, 0.9]
    assert all(b["max_tokens"] == 4096 for b in fake.bodies)


@pytest.mark.anyio
async def test_zero_examples_answer_directly_in_two_calls() -> None:
    fake = FakeUpstream(Script(extraction="<output>[]</output>"), latency=0.05)
    response = await ask(fake, "What is 6 * 7?")
    assert response.choices[0].message.content == "42"
    assert fake.call_count == 2
    assert fake.dependent_rounds() == 2
    assert final_system(fake) == "Answer with a number."


@pytest.mark.anyio
@pytest.mark.parametrize(
    "extraction",
    [
        "I could not find any examples.",
        Reply('<output>[{"question": "2 + 3 = ?", "ans', finish_reason="length"),
        "",
    ],
)
async def test_unusable_extraction_falls_back_to_no_examples(extraction: str | Reply) -> None:
    fake = FakeUpstream(Script(extraction=extraction))
    response = await ask(fake)
    assert response.choices[0].message.content == "42"
    assert fake.call_count == 2


@pytest.mark.anyio
async def test_unusable_condensing_falls_back_to_the_lessons() -> None:
    fake = FakeUpstream(Script(condensed=Reply("1. Recompute", finish_reason="length")))
    response = await ask(fake)
    assert response.choices[0].message.content == "42"
    system = final_system(fake)
    assert "Lesson from 2 + 3." in system
    assert "Lesson from 9 - 7." in system


@pytest.mark.anyio
async def test_max_principles_caps_the_list() -> None:
    fake = FakeUpstream(Script())
    await ask(fake, extra_body={"optillm": {"leap": {"max_principles": 1}}})
    system = final_system(fake)
    assert "1. Recompute every step." in system
    assert "Check the operator" not in system
    assert "at most 1 " in str(fake.bodies[-2]["messages"][-1]["content"])


@pytest.mark.anyio
async def test_max_examples_bounds_the_work() -> None:
    fake = FakeUpstream(Script())
    await ask(fake, extra_body={"max_examples": 1})
    assert fake.call_count == 5  # extract, 1 mistake, 1 principle, condense, answer
    fake = FakeUpstream(Script())
    await ask(fake, extra_body={"max_examples": 0})
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_n_answers_share_one_learning_pass() -> None:
    script = Script()
    fake = FakeUpstream(script)
    response = await ask(fake, n=2)
    assert len(response.choices) == 2
    assert fake.call_count == 8
    assert fake.bodies[-1]["n"] == 2


@pytest.mark.anyio
async def test_an_empty_final_answer_is_an_error() -> None:
    fake = FakeUpstream(Script(extraction="<output>[]</output>", final=""))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_streaming_streams_the_final_answer() -> None:
    fake = FakeUpstream(Script(final="forty two"))
    stream = await ask(fake, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "forty two"
    assert fake.bodies[-1]["stream"] is True
