"""Behaviour of ``pvg``: best verified solution across rounds, query rewrite, rounds, usage."""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from optillm_core import gather
from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_pvg import plugin, prompts
from optillm_pvg.scoring import parse_score

QUESTION = "A farmer has 17 sheep and buys 25 more. How many sheep are there now?"
REWRITTEN = "REWRITTEN: A farmer owns 17 sheep, then buys 25 more; count every sheep."


class Game:
    """A scripted upstream for the game.

    Provers answer ``"<role> r<round> #<i>"`` (round 2 once the query is the rewritten one),
    the verifier scores each solution from ``scores`` (default 5), the rewrite returns
    ``rewrite``. ``cut`` solutions come back with ``finish_reason="length"``.
    """

    def __init__(
        self,
        scores: dict[str, Any] | None = None,
        rewrite: str | Reply = REWRITTEN,
        cut: frozenset[str] = frozenset(),
    ) -> None:
        self.scores = scores or {}
        self.rewrite = rewrite
        self.cut = cut
        self.counters: dict[tuple[str, int], Iterator[int]] = defaultdict(itertools.count)

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        kind = kind_of(body)
        user = body["messages"][-1]["content"]
        if kind == "verify":
            solution = user.split("Solution to check:\n", 1)[1]
            return f"Score: {self.scores.get(solution, 5)}\nExplanation: checked."
        if kind == "rewrite":
            return self.rewrite
        round_number = 2 if user.startswith("REWRITTEN") else 1
        text = f"{kind} r{round_number} #{next(self.counters[kind, round_number])}"
        return Reply(text, finish_reason="length") if text in self.cut else text


def kind_of(body: dict[str, Any]) -> str:
    """Which step of the game a logged request belongs to."""
    system = body["messages"][0]["content"]
    if system == prompts.VERIFIER_INSTRUCTIONS:
        return "verify"
    if system == prompts.REWRITE_INSTRUCTIONS:
        return "rewrite"
    for role, line in prompts.ROLE_LINES.items():
        if system.endswith(line):
            return role
    raise AssertionError(f"unexpected request: {system[:60]!r}")


async def ask(fake: FakeUpstream, **options: Any) -> Any:
    body = {"optillm_approach": "pvg", **options.pop("extra_body", {})}
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="fake-model",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body=body,
            **options,
        )


@pytest.mark.anyio
async def test_keeps_the_best_verified_solution_and_rewrites_the_query_between_rounds() -> None:
    fake = FakeUpstream(Game({"helpful r1 #0": 9, "sneaky r1 #0": 10, "helpful r2 #1": 7}))
    response = await ask(fake)
    assert response.choices[0].message.content == "helpful r1 #0"
    assert fake.call_count == 17
    kinds = [kind_of(body) for body in fake.bodies]
    (rewrite_at,) = [i for i, kind in enumerate(kinds) if kind == "rewrite"]
    before, after = fake.bodies[:rewrite_at], fake.bodies[rewrite_at + 1 :]
    assert len(before) == len(after) == 8
    for body in before:
        assert QUESTION in body["messages"][-1]["content"]
        assert REWRITTEN not in body["messages"][-1]["content"]
    for body in after:
        assert REWRITTEN in body["messages"][-1]["content"]
        assert QUESTION not in body["messages"][-1]["content"]
    rewrite = fake.bodies[rewrite_at]["messages"][-1]["content"]
    assert "helpful r1 #0" in rewrite
    assert "sneaky r1 #0" in rewrite
    assert QUESTION in rewrite


@pytest.mark.anyio
async def test_a_better_solution_in_a_later_round_wins() -> None:
    fake = FakeUpstream(Game({"helpful r1 #0": 6, "helpful r2 #2": 9.5}))
    response = await ask(fake)
    assert response.choices[0].message.content == "helpful r2 #2"


@pytest.mark.anyio
async def test_a_sneaky_solution_wins_only_when_allowed() -> None:
    scores = {"helpful r1 #1": 8, "sneaky r1 #2": 10}
    response = await ask(FakeUpstream(Game(scores)))
    assert response.choices[0].message.content == "helpful r1 #1"
    response = await ask(FakeUpstream(Game(scores)), extra_body={"sneaky_can_win": True})
    assert response.choices[0].message.content == "sneaky r1 #2"


@pytest.mark.anyio
async def test_unreadable_verdicts_fall_back_to_the_first_helpful_solution() -> None:
    fake = FakeUpstream(Game({"helpful r1 #0": "unclear", "helpful r1 #1": "n/a"}))
    response = await ask(fake, extra_body={"num_rounds": 1})
    # Every other solution gets a readable default 5, so the first readable helpful one wins.
    assert response.choices[0].message.content == "helpful r1 #2"

    def garbage(body: dict[str, Any]) -> str:
        return "I cannot decide." if kind_of(body) == "verify" else Game()(body)

    fake = FakeUpstream(garbage)
    response = await ask(fake)
    assert response.choices[0].message.content == "helpful r1 #0"
    assert not any(kind_of(body) == "rewrite" for body in fake.bodies)


@pytest.mark.anyio
async def test_solutions_cut_by_the_length_limit_are_neither_verified_nor_returned() -> None:
    fake = FakeUpstream(Game({"helpful r1 #0": 10}, cut=frozenset({"helpful r1 #0"})))
    response = await ask(fake)
    assert response.choices[0].message.content != "helpful r1 #0"
    verified = [b["messages"][-1]["content"] for b in fake.bodies if kind_of(b) == "verify"]
    assert not any(text.endswith("helpful r1 #0") for text in verified)
    assert fake.call_count == 16


@pytest.mark.anyio
async def test_a_cut_rewrite_keeps_the_current_query() -> None:
    fake = FakeUpstream(Game(rewrite=Reply("REWRITTEN: half a sent", finish_reason="length")))
    await ask(fake)
    provers = [b for b in fake.bodies if kind_of(b) in ("helpful", "sneaky")]
    assert len(provers) == 4
    assert all(b["messages"][-1]["content"] == QUESTION for b in provers)


@pytest.mark.anyio
async def test_five_dependent_rounds_and_seventeen_calls_with_native_n() -> None:
    fake = FakeUpstream(Game(), latency=0.05)
    await ask(fake)
    assert fake.call_count == 17
    assert fake.dependent_rounds() == 5
    assert sorted(b.get("n") for b in fake.bodies if "n" in b) == [3, 3, 3, 3]


@pytest.mark.anyio
async def test_without_native_n_the_solutions_fan_out_and_rounds_stay_five() -> None:
    fake = FakeUpstream(Game(), supports_n=False, latency=0.05)
    response = await ask(fake)
    assert response.choices[0].message.content.startswith("helpful r1")
    assert fake.call_count == 25
    assert all("n" not in body for body in fake.bodies)
    assert fake.dependent_rounds() == 5


@pytest.mark.anyio
@pytest.mark.parametrize(("rounds", "calls", "depth"), [(1, 8, 2), (3, 26, 8)])
async def test_rounds_are_a_request_parameter(rounds: int, calls: int, depth: int) -> None:
    fake = FakeUpstream(Game(), latency=0.02)
    await ask(fake, extra_body={"optillm": {"pvg": {"num_rounds": rounds}}})
    assert fake.call_count == calls
    assert fake.dependent_rounds() == depth


@pytest.mark.anyio
async def test_temperatures_and_token_limits() -> None:
    fake = FakeUpstream(Game())
    await ask(fake, max_tokens=500, extra_body={"num_solutions": 2})
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for body in fake.bodies:
        by_kind[kind_of(body)].append(body)
    assert [b["temperature"] for b in by_kind["helpful"]] == [0.7, 0.6]
    assert all(b["max_tokens"] == 500 and b["n"] == 2 for b in by_kind["helpful"])
    assert {(b["temperature"], b["max_tokens"]) for b in by_kind["verify"]} == {(0.2, 1024)}
    assert [(b["temperature"], b["max_tokens"]) for b in by_kind["rewrite"]] == [(0.5, 500)]


@pytest.mark.anyio
async def test_usage_is_per_request_even_when_requests_overlap() -> None:
    fake = FakeUpstream(Game())
    app = make_app(fake, [plugin])
    async with openai_client(app) as client:
        create = functools.partial(
            client.chat.completions.create,
            model="pvg-fake-model",
            messages=[{"role": "user", "content": QUESTION}],
        )
        first = await create()
        served = fake.prompt_tokens_served, fake.completion_tokens_served
        assert (first.usage.prompt_tokens, first.usage.completion_tokens) == served
        fake.reset()
        second, third = await gather(create, create)
    assert second.usage.prompt_tokens + third.usage.prompt_tokens == fake.prompt_tokens_served
    assert second.usage.total_tokens == third.usage.total_tokens == first.usage.total_tokens


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Score: 7\nExplanation: fine", 7.0),
        ("**Score:** 8/10", 8.0),
        ("Score: 7.5", 7.5),
        ("Score: 4 out of 5", 8.0),
        ("Score: 85/100", 8.5),
        ("Score: 15", 10.0),
        ("Score: -3", 0.0),
        ("Explanation: a score of 10 needs rigour.\nFinal score: 6", 6.0),
        ("I would give it a score of 6.", 6.0),
        ("Overall I rate it 9/10.", 9.0),
        ("Score: <an integer from 0 to 10>", None),
        ("Looks fine.", None),
        ("", None),
    ],
)
def test_parse_score(reply: str, expected: float | None) -> None:
    assert parse_score(reply) == expected


@pytest.mark.anyio
async def test_a_tight_call_budget_stops_after_a_round_with_the_best_so_far() -> None:
    fake = FakeUpstream(Game({"helpful r1 #1": 9}))
    async with openai_client(make_app(fake, [plugin], max_upstream_calls=12)) as client:
        response = await client.chat.completions.create(
            model="pvg-fake-model", messages=[{"role": "user", "content": QUESTION}]
        )
    assert response.choices[0].message.content == "helpful r1 #1"
    assert fake.call_count == 8
