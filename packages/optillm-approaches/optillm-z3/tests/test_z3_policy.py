"""z3 runs code (the solver) only when selected explicitly, or by tag where allowed; the
sandbox limits of its runs (solver and wall-clock time, Python formalizations) are the
operator's alone."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from z3_helpers import SMT_OK, analysis, run_z3

from optillm_core.codeexec import CodeRunner
from optillm_core.testing import FakeUpstream, assert_operator_only, make_app, openai_client
from optillm_z3 import plugin

TAGGED = "<optillm_approach>z3</optillm_approach> Two numbers add to 10 and differ by 2."


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_by_default() -> None:
    fake = FakeUpstream(analysis(SMT_OK))
    async with openai_client(make_app(fake, [plugin])) as client:
        with pytest.raises(openai.BadRequestError) as raised:
            await client.chat.completions.create(
                model="fake-model", messages=[{"role": "user", "content": TAGGED}]
            )
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["code"] == "code_execution_not_allowed"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_selection_by_tag_works_when_allowed() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis(SMT_OK), "6 and 4.")
    text, runs = await run_z3(
        fake, question=TAGGED, allow_code_by_tag=True, body={"optillm_approach": None}
    )
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["ok"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("operator", "body"),
    [
        ({}, {"run_timeout": 600}),
        ({}, {"solver_timeout": 600}),
        ({}, {"optillm": {"z3": {"solver_timeout": 600, "run_timeout": 600}}}),
        ({"allow_python": False}, {"allow_python": True}),
    ],
)
async def test_a_request_cannot_change_the_sandbox_limits(
    operator: dict[str, Any], body: dict[str, Any]
) -> None:
    await assert_operator_only(
        FakeUpstream(analysis(SMT_OK)),
        [plugin],
        body,
        model="z3-fake-model",
        content="Two numbers add to 10, differ by 2.",
        plugin_options={"z3": operator},
    )


@pytest.mark.anyio
async def test_runs_get_the_default_limits_or_the_operators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[float, str]] = []
    original = CodeRunner.run

    async def spy(self: CodeRunner, ctx: Any, code: str, **kwargs: Any) -> Any:
        seen.append((kwargs["timeout"], code))
        return await original(self, ctx, code, **kwargs)

    monkeypatch.setattr(CodeRunner, "run", spy)
    for options in ({}, {"z3": {"solver_timeout": 40, "run_timeout": 20}}):
        fake = FakeUpstream()
        fake.enqueue(analysis(SMT_OK), "6 and 4.")
        text, runs = await run_z3(fake, plugin_options=options)
        assert text == "6 and 4."
        assert [r.status for r in runs] == ["ok"]
    (default_wall, default_runner), (operator_wall, operator_runner) = seen
    assert default_wall == 30.0
    assert 'solver.set("timeout", 10000)' in default_runner
    assert operator_wall == 45.0  # Z3's 40 s plus the 5 s grace, above run_timeout
    assert 'solver.set("timeout", 40000)' in operator_runner
