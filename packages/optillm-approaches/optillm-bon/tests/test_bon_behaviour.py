"""Behaviour of ``bon``: who wins, how many calls and rounds, fallbacks and parameters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from optillm_bon import plugin
from optillm_bon.rating import RATING_REQUEST
from optillm_core.cli import main
from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client

QUESTION = "Name a prime number between 10 and 20."


class Script:
    """Reply source: candidates in order for generations, ratings looked up by candidate."""

    def __init__(self, candidates: list[str | Reply], ratings: dict[str, str]) -> None:
        self.candidates = candidates
        self.ratings = ratings
        self.drawn = 0

    def __call__(self, body: dict[str, Any]) -> str | Reply:
        if is_rating(body):
            return self.ratings.get(body["messages"][-2]["content"], "Rating: 5/10")
        candidate = self.candidates[self.drawn % len(self.candidates)]
        self.drawn += 1
        return candidate


def is_rating(body: dict[str, Any]) -> bool:
    return body["messages"][-1]["content"] == RATING_REQUEST


def rated(fake: FakeUpstream) -> list[str]:
    return sorted(b["messages"][-2]["content"] for b in fake.bodies if is_rating(b))


async def ask(fake: FakeUpstream, messages: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    options = kw.pop("settings", {})
    async with openai_client(make_app(fake, [plugin], **options)) as client:
        return await client.chat.completions.create(
            model="bon-fake-model",
            messages=messages or [{"role": "user", "content": QUESTION}],
            **kw,
        )


@pytest.mark.anyio
async def test_returns_the_highest_rated_candidate() -> None:
    script = Script(
        ["eleven", "thirteen", "seventeen"],
        {"eleven": "Rating: 3/10", "thirteen": "**9**/10", "seventeen": "I'd give it 8.5"},
    )
    fake = FakeUpstream(script)
    response = await ask(fake)
    assert response.choices[0].message.content == "thirteen"
    generation, *ratings = fake.bodies
    assert generation["n"] == 3
    assert generation["temperature"] == 1.0
    assert generation["max_tokens"] == 4096
    assert len(ratings) == 3
    assert all(b["temperature"] == 0.1 and b["max_tokens"] == 256 for b in ratings)
    assert rated(fake) == ["eleven", "seventeen", "thirteen"]
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("ratings", "winner"),
    [
        ({"eleven": "7", "thirteen": "9", "seventeen": "9"}, "thirteen"),
        ({"eleven": "8", "thirteen": "8", "seventeen": "8"}, "eleven"),
        ({"eleven": "good", "thirteen": "fine", "seventeen": "ok"}, "eleven"),
        ({"eleven": "no idea", "thirteen": "0", "seventeen": "hmm"}, "thirteen"),
    ],
)
async def test_ties_and_unreadable_ratings_are_deterministic(
    ratings: dict[str, str], winner: str
) -> None:
    for _ in range(3):  # same script, same answer every time
        fake = FakeUpstream(Script(["eleven", "thirteen", "seventeen"], ratings))
        response = await ask(fake)
        assert response.choices[0].message.content == winner


@pytest.mark.anyio
@pytest.mark.parametrize(("supports_n", "calls"), [(True, 4), (False, 6)])
async def test_two_dependent_rounds(supports_n: bool, calls: int) -> None:
    script = Script(["eleven", "thirteen", "seventeen"], {"seventeen": "9"})
    fake = FakeUpstream(script, latency=0.05, supports_n=supports_n)
    response = await ask(fake)
    assert response.choices[0].message.content == "seventeen"
    assert fake.dependent_rounds() == 2
    assert fake.call_count == calls
    assert all(
        int(b.get("n") or 1) == (3 if supports_n and i == 0 else 1)
        for i, b in enumerate(fake.bodies)
    )
    assert rated(fake) == ["eleven", "seventeen", "thirteen"]


@pytest.mark.anyio
async def test_candidates_cut_at_the_length_limit_are_not_rated() -> None:
    script = Script(
        [Reply("seventeen is", finish_reason="length"), "eleven", "thirteen"],
        {"seventeen is": "10", "eleven": "4", "thirteen": "6"},
    )
    fake = FakeUpstream(script)
    response = await ask(fake)
    assert response.choices[0].message.content == "thirteen"
    assert rated(fake) == ["eleven", "thirteen"]
    assert fake.call_count == 3
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_when_every_candidate_is_cut_the_best_is_returned_as_truncated() -> None:
    cut = [Reply(text, finish_reason="length") for text in ("a b", "c d", "e f")]
    fake = FakeUpstream(Script(cut, {"a b": "2", "c d": "8", "e f": "5"}))
    response = await ask(fake)
    assert response.choices[0].message.content == "c d"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_a_single_usable_candidate_needs_no_rating() -> None:
    fake = FakeUpstream(Script(["", "thirteen", "  "], {}))
    response = await ask(fake)
    assert response.choices[0].message.content == "thirteen"
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_identical_candidates_are_rated_once() -> None:
    fake = FakeUpstream(Script(["eleven", "thirteen", "eleven"], {"thirteen": "9"}))
    response = await ask(fake)
    assert response.choices[0].message.content == "thirteen"
    assert rated(fake) == ["eleven", "thirteen"]


@pytest.mark.anyio
async def test_no_content_at_all_is_a_502_not_an_answer() -> None:
    fake = FakeUpstream("")
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert "bon" in str(raised.value.message)


@pytest.mark.anyio
async def test_judge_sees_the_conversation_and_the_system_prompt() -> None:
    fake = FakeUpstream(Script(["eleven", "thirteen", "seventeen"], {}))
    messages = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": QUESTION},
    ]
    await ask(fake, messages)
    assert fake.bodies[0]["messages"] == messages
    rating = next(b for b in fake.bodies if is_rating(b))["messages"]
    assert [m["role"] for m in rating] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "Answer in one word." in rating[0]["content"]
    assert rating[1:4] == messages[1:]


@pytest.mark.anyio
async def test_stop_and_token_limit_reach_the_candidates_only() -> None:
    fake = FakeUpstream(Script(["eleven", "thirteen", "seventeen"], {}))
    await ask(fake, stop=["\n\n"], max_completion_tokens=300, top_p=0.5)
    generation, *ratings = fake.bodies
    assert generation["stop"] == ["\n\n"]
    assert generation["max_completion_tokens"] == 300
    assert "max_tokens" not in generation
    assert all("stop" not in b and b["max_tokens"] == 256 for b in ratings)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("extra_body", "settings", "expected"),
    [
        ({"best_of_n": 5}, {}, 5),
        ({"count": 2}, {}, 2),
        ({"optillm": {"bon": {"best_of_n": 4}}}, {}, 4),
        ({}, {"plugin_options": {"bon": {"count": "6"}}}, 6),  # as flags and env deliver it
        ({"best_of_n": 2}, {"plugin_options": {"bon": {"count": "6"}}}, 2),
    ],
)
async def test_count_parameter(
    extra_body: dict[str, Any], settings: dict[str, Any], expected: int
) -> None:
    fake = FakeUpstream(lambda body: "9" if is_rating(body) else f"draft {len(fake.bodies)}")
    await ask(fake, extra_body=extra_body, settings=settings)
    assert fake.bodies[0]["n"] == expected
    assert "best_of_n" not in fake.bodies[0]
    assert "count" not in fake.bodies[0]


@pytest.mark.anyio
async def test_count_out_of_range_is_a_400() -> None:
    with pytest.raises(openai.BadRequestError):
        await ask(FakeUpstream("x"), extra_body={"best_of_n": 0})


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """``optillm config`` configures root logging (on the captured stderr); undo that."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("keep_logging")
@pytest.mark.parametrize("flag", ["--best-of-n", "--best_of_n", "--bon-count"])
def test_reference_flags_set_the_count(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--load-plugins", "bon", flag, "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["plugin_options"]["bon"]["count"] == "5"


@pytest.mark.usefixtures("keep_logging")
@pytest.mark.parametrize("variable", ["OPTILLM_BEST_OF_N", "OPTILLM_BON_COUNT"])
def test_reference_environment_variable_sets_the_count(
    variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "7")
    assert main(["config", "--load-plugins", "bon"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["plugin_options"]["bon"]["count"] == "7"
