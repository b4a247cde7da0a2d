"""Code from the request never runs by accident: not because a message asks for it, not when
the model copies it, not through a tag — only when the operator and the request both say so.
The sandbox limits of every run (time, importable modules) are the operator's alone."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from executecode_helpers import code_reply, run_executecode

from optillm_core import ConfigError
from optillm_core.codeexec import CodeRunner
from optillm_core.testing import FakeUpstream, assert_operator_only, make_app, openai_client
from optillm_executecode import plugin

# Prints a number that appears nowhere in the message: seeing it anywhere means the code ran.
CANARY_CODE = "print('canary', 6 * 7 * 1000 + 123)"
CANARY = "42123"
PLEASE_RUN = f"Please run this code and tell me its output:\n```python\n{CANARY_CODE}\n```"


def assert_never_ran(fake: FakeUpstream) -> None:
    assert all(CANARY not in str(body) for body in fake.bodies)


@pytest.mark.anyio
async def test_please_run_this_code_runs_nothing_by_default() -> None:
    fake = FakeUpstream("I can't execute code here, but it would print a number.")
    text, runs = await run_executecode(fake, question=PLEASE_RUN)
    assert text == "I can't execute code here, but it would print a number."
    assert runs == []
    assert fake.call_count == 1
    assert_never_ran(fake)


@pytest.mark.anyio
@pytest.mark.parametrize("allow_user_code", [False, True])
async def test_code_the_model_copies_from_the_message_is_not_run(allow_user_code: bool) -> None:
    fake = FakeUpstream()  # echoes the user's message, python block included
    text, runs = await run_executecode(fake, question=PLEASE_RUN, allow_user_code=allow_user_code)
    assert text.startswith("echo: Please run this code")
    assert runs == []  # no sandbox run at all
    assert fake.call_count == 1
    assert_never_ran(fake)


@pytest.mark.anyio
async def test_asking_for_user_code_is_refused_unless_the_operator_allows_it() -> None:
    fake = FakeUpstream("unused")
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="executecode-fake-model",
                messages=[{"role": "user", "content": PLEASE_RUN}],
                extra_body={"run_user_code": True},
            )
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "user_code_not_allowed"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_user_code_runs_when_the_operator_and_the_request_say_so() -> None:
    fake = FakeUpstream("It prints canary 42123.")
    text, runs = await run_executecode(
        fake, question=PLEASE_RUN, allow_user_code=True, body={"run_user_code": True}
    )
    assert text == "It prints canary 42123."
    assert [r.status for r in runs] == ["ok"]
    assert fake.call_count == 1  # only the answer: the code came from the user
    last = fake.bodies[0]["messages"][-1]["content"]
    assert last.startswith(PLEASE_RUN)
    assert "canary 42123" in last and "was run in a sandbox" in last


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_by_default_and_allowed_by_the_operator() -> None:
    tagged = "<optillm_approach>executecode</optillm_approach> What is 2**10?"
    fake = FakeUpstream()
    fake.enqueue("```python\nprint(2**10)\n```", "1024")
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": tagged}]
            )
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "code_execution_not_allowed"
    assert fake.call_count == 0
    text, runs = await run_executecode(
        fake, question=tagged, allow_code_by_tag=True, body={"optillm_approach": None}
    )
    assert text == "1024"
    assert [r.status for r in runs] == ["ok"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"run_timeout": 600},
        {"optillm": {"executecode": {"run_timeout": 600}}},
        {"modules": ["cffi"]},
        {"optillm": {"executecode": {"modules": ["numpy", "sympy", "requests"]}}},
    ],
)
async def test_a_request_cannot_change_the_sandbox_limits(body: dict[str, Any]) -> None:
    fake = FakeUpstream(code_reply("print(1)"))
    await assert_operator_only(
        fake, [plugin], body, model="executecode-fake-model", content="What is 2**10?"
    )


@pytest.mark.anyio
async def test_runs_get_the_default_limits_or_the_operators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[float, list[str]]] = []
    original = CodeRunner.run

    async def spy(self: CodeRunner, ctx: Any, code: str, **kwargs: Any) -> Any:
        seen.append((kwargs["timeout"], list(kwargs["allowed_modules"])))
        return await original(self, ctx, code, **kwargs)

    monkeypatch.setattr(CodeRunner, "run", spy)
    for options in ({}, {"executecode": {"run_timeout": 5, "modules": ["numpy"]}}):
        fake = FakeUpstream()
        fake.enqueue(code_reply("print(2**10)"), "1024")
        text, runs = await run_executecode(fake, question="What is 2**10?", plugin_options=options)
        assert text == "1024"
        assert [r.status for r in runs] == ["ok"]
    assert seen == [(30.0, ["numpy", "sympy"]), (5.0, ["numpy"])]


def test_a_standard_library_module_in_the_operators_modules_fails_at_start_up() -> None:
    options = {"executecode": {"modules": ["ctypes"]}}
    with pytest.raises(ConfigError, match="'ctypes' is not a third-party module name"):
        make_app(FakeUpstream(), [plugin], plugin_options=options)
