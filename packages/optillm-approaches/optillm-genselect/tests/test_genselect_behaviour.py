"""Behaviour of ``genselect``: the verdict, its fallbacks, rounds, modes and parameters."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_genselect import plugin
from optillm_genselect.selection import SELECTOR_INSTRUCTIONS, parse_choice

QUESTION = "A farmer has 17 sheep and buys 25 more. How many sheep are there now?"
CANDIDATES = ("So 41 sheep.", "The answer is 42.", "Final answer: 42", "There are 43 sheep.")


def is_selection(body: dict[str, Any]) -> bool:
    return str(body["messages"][0]["content"]).startswith(SELECTOR_INSTRUCTIONS)


def listed(body: dict[str, Any]) -> list[str]:
    """The candidate texts shown in a selection request, in order."""
    text = body["messages"][-1]["content"]
    return re.findall(r'<candidate number="\d+">\n(.*?)\n</candidate>', text, re.S)


async def ask(fake: FakeUpstream, **options: Any) -> Any:
    body = {"optillm_approach": "genselect", **options.pop("extra_body", {})}
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body=body,
            **options,
        )


@pytest.mark.anyio
async def test_honours_best_candidate() -> None:
    fake = FakeUpstream()
    fake.enqueue(*CANDIDATES, "Candidate 2 adds correctly.\nBEST CANDIDATE: 2")
    response = await ask(fake)
    assert response.choices[0].message.content == "The answer is 42."
    assert fake.call_count == 2
    selection = fake.bodies[1]
    assert is_selection(selection)
    assert listed(selection) == list(CANDIDATES)
    assert QUESTION in selection["messages"][-1]["content"]
    assert selection["temperature"] == 0.3
    assert selection["max_tokens"] == 2048


@pytest.mark.anyio
async def test_garbage_verdict_falls_back_to_the_majority_answer() -> None:
    fake = FakeUpstream()
    fake.enqueue(*CANDIDATES, "They all look fine to me.")
    response = await ask(fake)
    assert response.choices[0].message.content == "The answer is 42."


@pytest.mark.anyio
@pytest.mark.parametrize("verdict", ["BEST CANDIDATE: 7", "BEST CANDIDATE: 0", "no idea"])
async def test_out_of_range_or_garbage_without_a_majority_gives_the_first(verdict: str) -> None:
    fake = FakeUpstream()
    fake.enqueue("answer: 1", "answer: 2", "answer: 3", "answer: 4", verdict)
    response = await ask(fake)
    assert response.choices[0].message.content == "answer: 1"


@pytest.mark.anyio
async def test_the_selectors_reasoning_is_appended_on_request() -> None:
    fake = FakeUpstream()
    fake.enqueue(*CANDIDATES, "Candidate 3 states it plainly.\nBEST CANDIDATE: 3")
    response = await ask(fake, extra_body={"include_reasoning": True})
    content = response.choices[0].message.content
    assert content.startswith("Final answer: 42\n\n")
    assert "Candidate 3 states it plainly." in content


@pytest.mark.anyio
async def test_candidates_cut_by_the_length_limit_are_not_offered() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        "So 41 sheep.",
        Reply("The answer is 4", finish_reason="length"),
        "Final answer: 42",
        "There are 43 sheep.",
        "BEST CANDIDATE: 2",
    )
    response = await ask(fake)
    assert listed(fake.bodies[1]) == ["So 41 sheep.", "Final answer: 42", "There are 43 sheep."]
    assert response.choices[0].message.content == "Final answer: 42"


@pytest.mark.anyio
async def test_identical_candidates_need_no_selection_call() -> None:
    fake = FakeUpstream("The answer is 42.")
    response = await ask(fake)
    assert response.choices[0].message.content == "The answer is 42."
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_two_dependent_rounds_with_native_n() -> None:
    fake = FakeUpstream(latency=0.05)
    fake.enqueue(*CANDIDATES, "BEST CANDIDATE: 3")
    response = await ask(fake)
    assert response.choices[0].message.content == "Final answer: 42"
    assert fake.call_count == 2
    assert fake.bodies[0]["n"] == 4
    assert fake.bodies[0]["temperature"] == 0.7
    assert fake.bodies[0]["max_tokens"] == 4096
    assert fake.dependent_rounds() == 2


def select_the_42() -> Callable[[dict[str, Any]], str]:
    """A reply source: candidates answering 41, 42, 43, 44, ... in turn; a selector that
    picks the candidate saying 42 (else the first listed)."""
    answers = itertools.cycle([41, 42, 43, 44])

    def reply(body: dict[str, Any]) -> str:
        if is_selection(body):
            options = listed(body)
            pick = next((i for i, t in enumerate(options, 1) if "is 42" in t), 1)
            return f"BEST CANDIDATE: {pick}"
        return f"So the answer is {next(answers)}"

    return reply


@pytest.mark.anyio
async def test_without_native_n_candidates_fan_out_in_one_round() -> None:
    fake = FakeUpstream(select_the_42(), supports_n=False, latency=0.05)
    response = await ask(fake)
    assert "the answer is 42" in response.choices[0].message.content
    assert fake.call_count == 5
    assert all("n" not in body for body in fake.bodies)
    assert fake.dependent_rounds() == 2


@pytest.mark.anyio
async def test_tournament_runs_knockout_rounds_of_concurrent_matches() -> None:
    fake = FakeUpstream(select_the_42(), latency=0.05)
    response = await ask(fake, extra_body={"comparison_mode": "tournament"})
    assert "the answer is 42" in response.choices[0].message.content
    matches = [body for body in fake.bodies if is_selection(body)]
    assert [len(listed(body)) for body in matches] == [2, 2, 2]
    assert fake.dependent_rounds() == 3


@pytest.mark.anyio
async def test_parameters_come_from_the_request() -> None:
    fake = FakeUpstream("same")
    await ask(fake, temperature=0.1, extra_body={"optillm": {"genselect": {"num_candidates": 3}}})
    assert fake.bodies[0]["n"] == 3
    assert fake.bodies[0]["temperature"] == 0.1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("BEST CANDIDATE: 2", 1),
        ("**BEST CANDIDATE:** 3", 2),
        ("Best candidate: #1", 0),
        ("BEST CANDIDATE: Candidate 4", 3),
        ("BEST CANDIDATE: 1\nOn reflection:\nBEST CANDIDATE: 3", 2),
        ("Candidate 2 is the best of them.", 1),
        ("After comparing, the best solution is candidate 4.", 3),
        ("I choose candidate 1.", 0),
        ("Candidate 3 is the best.\nBEST CANDIDATE: 2", 1),
        ("BEST CANDIDATE: 5", None),
        ("BEST CANDIDATE: 0", None),
        ("BEST CANDIDATE: <number>", None),
        ("", None),
    ],
)
def test_parse_choice(reply: str, expected: int | None) -> None:
    assert parse_choice(reply, 4) == expected
