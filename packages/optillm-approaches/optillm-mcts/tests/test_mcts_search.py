"""``mcts`` through the proxy against scripted upstreams: the better branch wins, calls and
dependent rounds match the README, budget, terminal states, parameters and seeds."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

import anyio
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_mcts import plugin
from optillm_mcts.dialogue import EVALUATOR_PROMPT, FALLBACK_USER_TURN, USER_SIMULATOR_PROMPT

QUESTION = [{"role": "user", "content": "Which city should I visit in spring?"}]


def kind(body: dict[str, Any]) -> str:
    """Which of the three kinds of call a request is."""
    first = body["messages"][0]
    if first["role"] == "system" and first["content"] == USER_SIMULATOR_PROMPT:
        return "apply"
    if first["role"] == "system" and first["content"] == EVALUATOR_PROMPT:
        return "evaluate"
    return "action"


def first_reply(body: dict[str, Any]) -> str:
    """The first assistant reply in an evaluated transcript (the root child it belongs to)."""
    text = body["messages"][-1]["content"]
    return text.split("Assistant: ", 1)[1].split("\n\n", 1)[0]


class Script:
    """A scripted model: candidate replies cycle through ``replies``; the simulated user asks a
    follow-up; the evaluator scores a conversation by its first reply."""

    def __init__(
        self,
        replies: list[str],
        scores: dict[str, str] | None = None,
        follow_up: str = "Tell me more.",
    ) -> None:
        self.replies = replies
        self.scores = scores or {}
        self.follow_up = follow_up
        self.actions = 0

    def __call__(self, body: dict[str, Any]) -> str:
        what = kind(body)
        if what == "apply":
            return self.follow_up
        if what == "evaluate":
            return self.scores.get(first_reply(body), "0.5")
        reply = self.replies[self.actions % len(self.replies)]
        self.actions += 1
        return reply


async def ask(fake: FakeUpstream, body: dict[str, Any] | None = None, **settings: Any) -> Any:
    async with openai_client(make_app(fake, [plugin], **settings)) as client:
        return await client.chat.completions.create(
            model="mcts-fake-model", messages=QUESTION, extra_body=body or {}
        )


def kinds(fake: FakeUpstream) -> Counter[str]:
    return Counter(kind(body) for body in fake.bodies)


@pytest.mark.anyio
@pytest.mark.parametrize("simulations", [3, 6])
async def test_the_clearly_better_reply_wins(simulations: int) -> None:
    script = Script(
        ["Visit Oslo.", "Visit Kyoto for the cherry blossoms.", "Visit Dubai."],
        scores={"Visit Kyoto for the cherry blossoms.": "0.9"},
    )
    fake = FakeUpstream(script)
    response = await ask(fake, {"mcts_simulations": simulations, "seed": 3})
    assert response.choices[0].message.content == "Visit Kyoto for the cherry blossoms."
    assert kinds(fake)["evaluate"] == simulations


@pytest.mark.anyio
async def test_repeated_simulations_go_deeper_into_the_better_branch() -> None:
    script = Script(
        ["Visit Oslo.", "Visit Kyoto.", "Visit Dubai."],
        scores={"Visit Kyoto.": "0.95", "Visit Oslo.": "0.05", "Visit Dubai.": "0.05"},
    )
    fake = FakeUpstream(script)
    await ask(fake, {"mcts_simulations": 6, "mcts_depth": 0, "seed": 1})
    # Expansions after the first three simulations happen under "Visit Kyoto." only: the
    # state sent for candidate replies then starts with that reply.
    expanded_under = [
        body["messages"][1]["content"]
        for body in fake.bodies
        if kind(body) == "action" and len(body["messages"]) > 1
    ]
    assert expanded_under[2:] == ["Visit Kyoto."] * (len(expanded_under) - 2)
    assert len(expanded_under) == 5  # every simulation after the first expands a new leaf


@pytest.mark.anyio
async def test_default_calls_and_dependent_rounds_match_the_readme() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]), latency=0.05)
    await ask(fake)
    # README: per simulation 1 (candidates, native n) + 3 (applies) + 2*depth + 1 = 7.
    assert fake.call_count == 2 * (1 + 3 + 2 * 1 + 1) == 14
    # README: per simulation 1 + 1 + 2*depth + 1 = 5 dependent rounds.
    assert fake.dependent_rounds() == 2 * (1 + 1 + 2 * 1 + 1) == 10
    assert fake.max_in_flight == 3  # the three applies of an expansion run together


@pytest.mark.anyio
async def test_rounds_per_simulation_stay_within_the_bound() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]), latency=0.04)
    await ask(fake, {"mcts_simulations": 1, "mcts_depth": 2})
    assert fake.dependent_rounds() <= 1 + 1 + 2 * 2 + 1
    assert fake.call_count == 1 + 3 + 2 * 2 + 1


@pytest.mark.anyio
async def test_upstream_without_n_fans_out_candidates() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]), supports_n=False)
    response = await ask(fake)
    assert all(int(body.get("n") or 1) == 1 for body in fake.bodies)
    assert fake.call_count == 2 * (3 + 3 + 2 * 1 + 1)  # README: k calls instead of one
    assert response.choices[0].message.content in {"A.", "B.", "C."}


@pytest.mark.anyio
async def test_usage_adds_up_every_call() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]))
    response = await ask(fake)
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_budget_stops_the_search_with_the_best_so_far() -> None:
    script = Script(["A.", "B.", "C."], scores={"B.": "0.9"})
    fake = FakeUpstream(script)
    response = await ask(fake, {"seed": 0}, max_upstream_calls=6)
    assert fake.call_count <= 6
    assert kinds(fake) == {"action": 1, "apply": 3, "evaluate": 1}
    assert response.choices[0].message.content in {"A.", "B.", "C."}


@pytest.mark.anyio
async def test_budget_below_one_expansion_answers_directly() -> None:
    fake = FakeUpstream(Script(["Direct answer."]))
    response = await ask(fake, max_upstream_calls=2)
    assert fake.call_count == 1
    assert response.choices[0].message.content == "Direct answer."


@pytest.mark.anyio
async def test_terminal_states_are_evaluated_but_never_expanded() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."], follow_up="Thanks, goodbye!"))
    await ask(fake, {"mcts_simulations": 4, "mcts_depth": 3})
    # One expansion of the root; every child says goodbye, so no rollout and no expansion.
    assert kinds(fake) == {"action": 1, "apply": 3, "evaluate": 4}


@pytest.mark.anyio
async def test_a_goodbye_from_the_client_still_gets_an_answer() -> None:
    fake = FakeUpstream(Script(["Goodbye, take care!"]))
    async with openai_client(make_app(fake, [plugin])) as client:
        response = await client.chat.completions.create(
            model="mcts-fake-model", messages=[{"role": "user", "content": "ok goodbye"}]
        )
    assert response.choices[0].message.content == "Goodbye, take care!"


@pytest.mark.anyio
async def test_truncated_candidates_are_a_last_resort() -> None:
    fake = FakeUpstream(
        lambda body: (
            Reply("Cut off mid", finish_reason="length") if kind(body) == "action" else "0.5"
        )
    )
    response = await ask(fake, {"mcts_simulations": 1, "mcts_depth": 0})
    assert response.choices[0].message.content == "Cut off mid"
    assert response.choices[0].finish_reason == "length"
    applies = [b for b in fake.bodies if kind(b) == "apply"]
    assert applies  # the simulated user turn of a truncated prediction falls back
    assert FALLBACK_USER_TURN == "Please continue."


@pytest.mark.anyio
async def test_empty_candidates_are_an_error_not_an_answer() -> None:
    import openai

    fake = FakeUpstream(lambda body: "" if kind(body) == "action" else "0.5")
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_parameters_come_from_body_keys_and_nested_overrides() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]))
    await ask(fake, {"mcts_simulations": 3, "mcts_depth": 0})
    assert kinds(fake)["evaluate"] == 3 and kinds(fake)["action"] == 3
    fake = FakeUpstream(Script(["A.", "B.", "C."]))
    await ask(fake, {"mcts_simulations": 3, "optillm": {"mcts": {"simulations": 1}}})
    assert kinds(fake)["evaluate"] == 1
    assert all("mcts_simulations" not in body and "optillm" not in body for body in fake.bodies)


@pytest.mark.anyio
async def test_server_options_are_defaults_and_requests_never_change_them() -> None:
    fake = FakeUpstream(Script(["A.", "B.", "C."]))
    app = make_app(fake, [plugin], plugin_options={"mcts": {"simulations": "1", "depth": "0"}})
    evaluations: dict[int, int] = {}

    async def one(simulations: int | None) -> None:
        body = {} if simulations is None else {"mcts_simulations": simulations}
        body["seed"] = simulations or 0
        async with openai_client(app) as client:
            response = await client.chat.completions.create(
                model="mcts-fake-model",
                messages=[{"role": "user", "content": f"q{simulations}"}],
                extra_body=body,
            )
        assert response.choices[0].message.content
        evaluations[simulations or 0] = sum(
            1
            for b in fake.bodies
            if kind(b) == "evaluate" and f"User: q{simulations}" in b["messages"][-1]["content"]
        )

    async with anyio.create_task_group() as tg:
        for simulations in (None, 4, 2):
            tg.start_soon(one, simulations)
    assert evaluations == {0: 1, 4: 4, 2: 2}


def test_flags_and_environment_spellings() -> None:
    from optillm_core import build_registry, make_plugin_manager
    from optillm_core.cli import build_parser
    from optillm_core.settings import build_settings
    from optillm_core.settings_plugins import plugin_env_names

    pm = make_plugin_manager(autoload=False, plugins=[plugin])
    registry = build_registry(pm)
    parser = build_parser(registry, pm)
    for flags, field, value in [
        (["--simulations", "5"], "simulations", "5"),
        (["--mcts-simulations", "6"], "simulations", "6"),
        (["--exploration", "0.5"], "exploration", "0.5"),
        (["--mcts-exploration", "0.7"], "exploration", "0.7"),
        (["--depth", "2"], "depth", "2"),
        (["--mcts-depth", "3"], "depth", "3"),
    ]:
        args = vars(parser.parse_args(["serve", *flags]))
        assert args[f"plugin:mcts.{field}"] == value, flags
    env = {"OPTILLM_SIMULATIONS": "4", "OPTILLM_EXPLORATION": "0.9", "OPTILLM_DEPTH": "2"}
    settings = build_settings({}, env=env, plugin_env=plugin_env_names(registry))
    assert settings.options_for("mcts") == {"simulations": "4", "exploration": "0.9", "depth": "2"}


def signature(fake: FakeUpstream) -> str:
    return json.dumps([b["messages"] for b in fake.bodies], sort_keys=True)


class Hashed:
    """A deterministic model whose replies and scores depend only on the request's content."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        key = hashlib.sha256(json.dumps(body["messages"]).encode()).hexdigest()
        self.seen[key] += 1
        what = kind(body)
        if what == "apply":
            return f"Follow-up {key[:4]}"
        if what == "evaluate":
            return f"0.{int(key[:4], 16) % 10}"
        return f"Reply {key[:4]}-{self.seen[key]}"


@pytest.mark.anyio
async def test_a_seed_makes_the_search_reproducible() -> None:
    runs = []
    for seed in (7, 7, 8, 9, 10):
        fake = FakeUpstream(Hashed())
        response = await ask(fake, {"seed": seed, "mcts_simulations": 5, "mcts_depth": 1})
        runs.append((signature(fake), response.choices[0].message.content))
    assert runs[0] == runs[1]
    assert any(run[0] != runs[0][0] for run in runs[2:])


@pytest.mark.anyio
async def test_a_seed_that_is_not_an_integer_is_a_400() -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as raised:
        await ask(FakeUpstream(Script(["A."])), {"seed": [1]})
    assert "seed" in str(raised.value)
