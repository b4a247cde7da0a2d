"""``rstar`` through the proxy against scripted upstreams: the consistent branch wins, answers
of every shape, calls and dependent rounds match the README, budget, seeds and parameters."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_rstar import plugin
from optillm_rstar.actions import (
    CHECK_INSTRUCTION,
    COMPLETE,
    FIRST_RE_EXAMINE,
    INSTRUCTIONS,
    RE_EXAMINE,
    REPHRASE,
    ROLE,
    SOLVE_INSTRUCTION,
)

CHECK = "check"


def parse(body: dict[str, Any]) -> tuple[str, int]:
    """(the action or ``check``, how many steps the prompt shows)."""
    prompt = body["messages"][-1]["content"]
    steps = len(re.findall(r"^Step \d+: ", prompt, re.M))
    if CHECK_INSTRUCTION in prompt or SOLVE_INSTRUCTION in prompt:
        return CHECK, steps
    if FIRST_RE_EXAMINE in prompt:
        return RE_EXAMINE, steps
    return next(a for a, text in INSTRUCTIONS.items() if text in prompt), steps


def scripted(step: Callable[[str, int], str], check: str) -> Callable[[dict[str, Any]], str]:
    def reply(body: dict[str, Any]) -> str:
        action, shown = parse(body)
        return check if action == CHECK else step(action, shown)

    return reply


async def ask(
    fake: FakeUpstream,
    body: dict[str, Any] | None = None,
    question: str = "What is 3 divided by 4?",
    **settings: Any,
) -> Any:
    async with openai_client(make_app(fake, [plugin], **settings)) as client:
        return await client.chat.completions.create(
            model="rstar-fake-model",
            messages=[{"role": "user", "content": question}],
            extra_body=body or {},
        )


def deepest_final(action: str, shown: int) -> str:
    """Steps that conclude only at the depth limit (3 by default)."""
    return "The final answer is \\boxed{42}." if shown == 2 else f"Working on it ({action})."


def kinds(fake: FakeUpstream) -> Counter[str]:
    return Counter(parse(body)[0] == CHECK for body in fake.bodies)


@pytest.mark.anyio
async def test_default_calls_and_dependent_rounds_match_the_readme() -> None:
    fake = FakeUpstream(scripted(deepest_final, "So \\boxed{42}."), latency=0.05)
    response = await ask(fake)
    # README: num_rollouts * max_depth steps + one check per answered trajectory.
    assert fake.call_count == 5 * 3 + 5 == 20
    assert kinds(fake) == {False: 15, True: 5}
    # README: max_depth rounds of steps (all rollouts at once) + 1 round of checks.
    assert fake.dependent_rounds() == 3 + 1
    assert fake.max_in_flight == 5
    assert response.choices[0].message.content.endswith("\\boxed{42}.")


@pytest.mark.anyio
async def test_the_consistent_branch_wins_over_a_confident_majority() -> None:
    def step(action: str, shown: int) -> str:
        if action == COMPLETE:
            return "Dividing 3 by 4 gives 0.75. The final answer is \\boxed{0.75}."
        if action == REPHRASE:
            return "We need the quotient of three and four."
        return "Flip it: the final answer is \\boxed{4/3}."

    fake = FakeUpstream(scripted(step, "3/4 = 0.75, so the final answer is \\boxed{\\frac{3}{4}}."))
    response = await ask(fake, {"seed": 11})
    text = response.choices[0].message.content
    assert "Dividing 3 by 4 gives 0.75" in text
    assert text.endswith("\\boxed{0.75}.")
    # The wrong answer was stated by most trajectories.
    answers = [
        "0.75" if parse(b)[0] == COMPLETE else "4/3"
        for b in fake.bodies
        if parse(b)[0] not in (CHECK, REPHRASE)
    ]
    assert answers.count("4/3") > answers.count("0.75")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("final", "bare"),
    [
        ("\\boxed{-\\frac{1}{2}}", "-\\frac{1}{2}"),
        ("\\boxed{2.5}", "2.5"),
        ("-17", "-17"),
        ("\\boxed{x^2+1}", "x^2+1"),
    ],
)
async def test_answers_of_every_shape(final: str, bare: str) -> None:
    def step(action: str, shown: int) -> str:
        return f"The final answer is {final}."

    fake = FakeUpstream(scripted(step, f"Therefore the final answer is {final}."))
    response = await ask(fake, {"bare_answer": True, "rstar_num_rollouts": 3, "seed": 0})
    assert response.choices[0].message.content == bare
    full = await ask(FakeUpstream(scripted(step, f"The final answer is {final}.")), {"seed": 0})
    assert full.choices[0].message.content.endswith(f"The final answer is {final}.")


@pytest.mark.anyio
async def test_a_number_only_in_the_question_is_never_the_answer() -> None:
    question = "Tom has 12 apples and gives 5 to Ann. How many apples does Tom have now?"

    def step(action: str, shown: int) -> str:
        if action == REPHRASE:
            return "Tom starts with 12 apples and gives 5 of them away."
        return "He gave away 5 of his 12 apples."

    fake = FakeUpstream(scripted(step, "He keeps 12 - 5 = 7 apples."))
    response = await ask(fake, {"seed": 2}, question=question)
    assert not re.search(r"\\boxed\{(12|5)\}", response.choices[0].message.content)
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(FakeUpstream(scripted(step, "ok")), {"bare_answer": True}, question=question)
    assert raised.value.status_code == 502

    def solved(action: str, shown: int) -> str:
        return "He gave away 5 of his 12 apples." if shown < 2 else "So 12 - 5 = 7 remain."

    fake = FakeUpstream(scripted(solved, "Tom has 7 apples left."))
    response = await ask(fake, {"bare_answer": True, "seed": 2}, question=question)
    assert response.choices[0].message.content == "7"


@pytest.mark.anyio
async def test_empty_or_truncated_steps_are_an_error_not_an_answer() -> None:
    fake = FakeUpstream(lambda body: Reply("cut", finish_reason="length"))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert fake.call_count == 5  # every root step died; nothing else was asked


@pytest.mark.anyio
async def test_budget_stops_the_search_with_the_best_so_far() -> None:
    fake = FakeUpstream(scripted(lambda a, s: "The final answer is \\boxed{9}.", "\\boxed{9}"))
    response = await ask(fake, {"seed": 4}, max_upstream_calls=6)
    assert fake.call_count <= 6
    assert response.choices[0].message.content.endswith("\\boxed{9}.")
    # Too tight to reach any answer: the deepest reasoning so far comes back, no error.
    fake = FakeUpstream(scripted(deepest_final, "\\boxed{42}"))
    response = await ask(fake, {"seed": 4}, max_upstream_calls=6)
    assert fake.call_count == 6
    assert kinds(fake) == {False: 6}
    assert response.choices[0].message.content.count("Working on it") == 2


@pytest.mark.anyio
async def test_the_clients_system_prompt_is_kept() -> None:
    fake = FakeUpstream(scripted(deepest_final, "\\boxed{42}"))
    async with openai_client(make_app(fake, [plugin])) as client:
        await client.chat.completions.create(
            model="rstar-fake-model",
            messages=[
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "What is 6 times 7?"},
            ],
            extra_body={"rstar_num_rollouts": 1},
        )
    systems = {body["messages"][0]["content"] for body in fake.bodies}
    assert systems == {f"{ROLE}\n\nAnswer in French."}
    assert all("What is 6 times 7?" in body["messages"][-1]["content"] for body in fake.bodies)


@pytest.mark.anyio
async def test_a_seed_makes_the_search_reproducible() -> None:
    def step(action: str, shown: int) -> str:
        return f"The final answer is \\boxed{{{len(action) + shown}}}." if shown else action

    runs = []
    for seed in (5, 5, 6, 7, 8):
        fake = FakeUpstream(scripted(step, "\\boxed{10}"))
        response = await ask(fake, {"seed": seed, "rstar_num_rollouts": 8})
        runs.append(
            (
                sorted(body["messages"][-1]["content"] for body in fake.bodies),
                response.choices[0].message.content,
            )
        )
    assert runs[0] == runs[1]
    assert any(run != runs[0] for run in runs[2:])


@pytest.mark.anyio
async def test_parameters_per_request_never_leak() -> None:
    fake = FakeUpstream(scripted(deepest_final, "\\boxed{42}"))
    app = make_app(fake, [plugin], plugin_options={"rstar": {"num_rollouts": "2"}})
    calls: dict[str, int] = {}

    async def one(tag: str, body: dict[str, Any]) -> None:
        async with openai_client(app) as client:
            await client.chat.completions.create(
                model="rstar-fake-model",
                messages=[{"role": "user", "content": f"Question {tag}"}],
                extra_body=body,
            )
        calls[tag] = sum(
            1 for b in fake.bodies if f"Question {tag}" in b["messages"][-1]["content"]
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "a", {})
        tg.start_soon(one, "b", {"rstar_num_rollouts": 4, "rstar_max_depth": 1})
        tg.start_soon(one, "c", {"optillm": {"rstar": {"num_rollouts": 1}}})
    # a: server default of 2 rollouts x 3 steps + 2 checks; b: 4 x 1 steps, no answers, no
    # checks; c: 1 x 3 + 1.
    assert calls == {"a": 2 * 3 + 2, "b": 4, "c": 3 + 1}
    assert all("rstar_num_rollouts" not in b and "optillm" not in b for b in fake.bodies)


def test_flags_and_environment_spellings() -> None:
    from optillm_core import build_registry, make_plugin_manager
    from optillm_core.cli import build_parser
    from optillm_core.settings import build_settings
    from optillm_core.settings_plugins import plugin_env_names

    pm = make_plugin_manager(autoload=False, plugins=[plugin])
    registry = build_registry(pm)
    parser = build_parser(registry, pm)
    for flags, field, value in [
        (["--rstar-max-depth", "4"], "max_depth", "4"),
        (["--rstar_max_depth", "5"], "max_depth", "5"),
        (["--rstar-num-rollouts", "6"], "num_rollouts", "6"),
        (["--rstar-c", "2.0"], "c", "2.0"),
        (["--rstar-bare-answer"], "bare_answer", "true"),
    ]:
        args = vars(parser.parse_args(["serve", *flags]))
        assert args[f"plugin:rstar.{field}"] == value, flags
    env = {
        "OPTILLM_RSTAR_MAX_DEPTH": "2",
        "OPTILLM_RSTAR_NUM_ROLLOUTS": "3",
        "OPTILLM_RSTAR_C": "0.5",
    }
    settings = build_settings({}, env=env, plugin_env=plugin_env_names(registry))
    assert settings.options_for("rstar") == {"max_depth": "2", "num_rollouts": "3", "c": "0.5"}
