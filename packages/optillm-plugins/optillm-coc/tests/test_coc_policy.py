"""Who may make coc run code: explicit selection yes, a tag in message text only if allowed;
and who sets the sandbox limits of its runs: the operator, never the request."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from coc_helpers import program_reply, run_coc

from optillm_coc import plugin
from optillm_core import ConfigError
from optillm_core.codeexec import CodeRunner
from optillm_core.testing import FakeUpstream, assert_operator_only, make_app, openai_client

TAGGED = "<optillm_approach>coc</optillm_approach> What is 1 + 2 + ... + 9?"


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_by_default() -> None:
    fake = FakeUpstream(program_reply("answer = 45"))
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": TAGGED}]
            )
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "code_execution_not_allowed"
    assert "allow_code_by_tag" in error["message"]
    assert fake.call_count == 0  # refused before any upstream call or run


@pytest.mark.anyio
async def test_selection_by_tag_works_when_the_operator_allows_it() -> None:
    fake = FakeUpstream(program_reply("answer = 45"))
    text, runs = await run_coc(
        fake, question=TAGGED, allow_code_by_tag=True, body={"optillm_approach": None}
    )
    assert text.startswith("45\n\n")
    assert [r.status for r in runs] == ["ok"]
    assert "optillm_approach" not in str(fake.bodies[0]["messages"])  # the tag was stripped


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"run_timeout": 600},
        {"optillm": {"coc": {"run_timeout": 600}}},
        {"modules": ["cffi"]},
        {"optillm": {"coc": {"modules": ["numpy", "sympy", "requests"]}}},
    ],
)
async def test_a_request_cannot_change_the_sandbox_limits(body: dict[str, Any]) -> None:
    fake = FakeUpstream(program_reply("answer = 1"))
    await assert_operator_only(fake, [plugin], body, model="coc-fake-model")


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
    text, runs = await run_coc(FakeUpstream(program_reply("answer = 45")))
    assert text.startswith("45\n\n")
    assert [r.status for r in runs] == ["ok"]
    operator = {"coc": {"run_timeout": 5, "modules": ["numpy"]}}
    text, _ = await run_coc(FakeUpstream(program_reply("answer = 45")), plugin_options=operator)
    assert text.startswith("45\n\n")
    assert seen == [(30.0, ["numpy", "sympy"]), (5.0, ["numpy"])]


def test_a_standard_library_module_in_the_operators_modules_fails_at_start_up() -> None:
    with pytest.raises(ConfigError, match="'ctypes' is not a third-party module name"):
        make_app(FakeUpstream(), [plugin], plugin_options={"coc": {"modules": ["ctypes"]}})
