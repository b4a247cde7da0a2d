"""The shared plumbing of code-executing approaches: who may select them, what a run leaves
in the trace and the log, and how program output is shown to the model."""

from __future__ import annotations

import logging
import re
import types
from typing import Any

import pytest

from optillm_core import (
    Approach,
    ApproachResult,
    ChatRequest,
    InvalidRequestError,
    RequestContext,
    build_engine,
    hookimpl,
)
from optillm_core.codeexec import (
    CodeRunner,
    code_hash,
    fenced_blocks,
    output_for_prompt,
    require_explicit_selection,
    third_party_modules,
)
from optillm_core.context import RequestState
from optillm_core.sandbox import SandboxLimits, SandboxOptions, SandboxResult, SandboxUnavailable
from optillm_core.testing import FakeUpstream, make_settings, upstream_for


class Guarded(Approach):
    """Refuses tag selection like a code-executing approach; answers with its plan source."""

    slug = "guarded"
    summary = "reports ctx.plan_source"

    async def run(self, ctx: RequestContext) -> ApproachResult:
        require_explicit_selection(ctx)
        return ApproachResult.text(ctx.plan_source)


@hookimpl
def register_approaches(register: Any) -> None:
    register(Guarded())


PLUGIN = types.SimpleNamespace(register_approaches=register_approaches)


async def ask(body: dict[str, Any], **settings: Any) -> str:
    engine, _ = build_engine(
        make_settings(**settings), [PLUGIN], autoload=False, upstream=upstream_for(FakeUpstream())
    )
    request = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], **body}
    outcome = await engine.run(ChatRequest.model_validate(request))
    return (await outcome.result.collect()).first_text


TAG = "<optillm_approach>guarded</optillm_approach> hi"


@pytest.mark.anyio
async def test_the_plan_source_reaches_the_approach() -> None:
    assert await ask({"optillm_approach": "guarded"}) == "body"
    assert await ask({"model": "guarded-fake-model"}) == "model"
    assert await ask({}, approach="guarded") == "server"


@pytest.mark.anyio
async def test_selection_by_tag_is_refused_unless_allowed() -> None:
    tagged = {"messages": [{"role": "user", "content": TAG}]}
    with pytest.raises(InvalidRequestError) as raised:
        await ask(tagged)
    assert raised.value.code == "code_execution_not_allowed"
    assert raised.value.status == 400
    assert await ask(tagged, allow_code_by_tag=True) == "tag"


def test_code_hash_is_short_and_stable() -> None:
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", code_hash("print(1)"))
    assert code_hash("print(1)") == code_hash("print(1)") != code_hash("print(2)")


def test_fenced_blocks_by_language() -> None:
    text = (
        "a\n```python\nx = 1\n```\n```smt2\n(assert true)\n```\n```\nplain\n```\n"
        "```Python title\ny = 2\n```\n```python\ncut off"
    )
    assert fenced_blocks(text) == ["x = 1", "y = 2", "cut off"]
    assert fenced_blocks(text, ("smt2",)) == ["(assert true)"]
    assert fenced_blocks(text, ("",)) == ["plain"]


def test_third_party_modules_refuses_standard_library_and_bad_names() -> None:
    assert third_party_modules(["numpy", "scipy.linalg", "z3"]) == ["numpy", "scipy.linalg", "z3"]
    for bad in (["ctypes"], ["numpy", "os.path"], ["numpy; import os"], ["-x"]):
        with pytest.raises(ValueError, match="is not a third-party module name"):
            third_party_modules(bad)


def _result(**changes: Any) -> SandboxResult:
    values: dict[str, Any] = {
        "exit_code": 0,
        "stdout": "",
        "stderr": "",
        "timed_out": False,
        "killed": False,
        "truncated": False,
        "duration": 0.1,
        "isolation": None,
    }
    values.update(changes)
    return SandboxResult(**values)


def test_output_for_prompt_says_what_happened_and_stays_bounded() -> None:
    assert output_for_prompt(_result()) == "(the program printed nothing)"
    timed = output_for_prompt(_result(exit_code=-9, killed=True, timed_out=True, stdout="a\n"))
    assert timed == "The program was stopped: it ran past its time limit.\nstdout:\na"
    failed = output_for_prompt(_result(exit_code=1, stderr="Traceback\nValueError: x\n"))
    assert failed == "The program exited with status 1.\nstderr:\nTraceback\nValueError: x"
    long = output_for_prompt(_result(stdout="x" * 10_000, truncated=True), limit=1000)
    assert len(long) < 1200
    assert "[9000 characters omitted]" in long
    assert long.endswith("(output was truncated by the sandbox)")


def _context(**settings: Any) -> RequestContext:
    fake = FakeUpstream()
    engine, _ = build_engine(
        make_settings(**settings), [], autoload=False, upstream=upstream_for(fake)
    )
    state: RequestState = engine.new_state("req-test")
    request = ChatRequest.model_validate(
        {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    )
    return RequestContext(state, stage="runner-test", request=request, model="fake-model")


@pytest.mark.anyio
async def test_a_run_is_traced_and_logged_by_hash_only(caplog: pytest.LogCaptureFixture) -> None:
    ctx = _context()
    runner = CodeRunner(SandboxLimits(timeout=10))
    secret = "s3cr3t-" + "value"
    code = f"token = {secret!r}\nprint(token.upper())"
    with caplog.at_level(logging.DEBUG):
        result = await runner.run(ctx, code, timeout=10, label="attempt 1")
    assert result.stdout == secret.upper() + "\n"
    (entry,) = ctx.trace.entries
    assert (entry.stage, entry.kind, entry.status) == ("runner-test", "sandbox", "ok")
    assert entry.detail == f"{code_hash(code)} exit=0 timed_out=False"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert code_hash(code) in logged and "attempt 1" in logged
    assert secret not in logged and secret.upper() not in logged
    assert runner.sandbox(ctx) is runner.sandbox(ctx)  # one sandbox (and probe) per runner


def test_the_operator_waiver_reaches_the_sandbox() -> None:
    runner = CodeRunner()
    strict = runner.sandbox(_context())
    waived = runner.sandbox(_context(sandbox_allow_no_network_isolation=True))
    assert not strict.options.allow_no_network_isolation
    assert waived.options.allow_no_network_isolation


@pytest.mark.anyio
async def test_a_host_without_isolation_is_refused_before_any_call_unless_waived() -> None:
    runner = CodeRunner(SandboxLimits(timeout=10), SandboxOptions(namespaces=False))
    with pytest.raises(SandboxUnavailable) as raised:
        await runner.ensure_available(_context())
    assert raised.value.code == "sandbox_unavailable"
    waived = _context(sandbox_allow_no_network_isolation=True)
    await runner.ensure_available(waived)
    result = await runner.run(waived, "print('ran')", timeout=10)
    assert (result.stdout, result.isolation.mode) == ("ran\n", "process")


def test_any_other_plan_source_is_refused() -> None:
    ctx = _context(allow_code_by_tag=True)
    for source in ("body", "model", "server", "tag"):
        ctx.plan_source = source
        require_explicit_selection(ctx)
    ctx.plan_source = "routed"
    with pytest.raises(InvalidRequestError, match=r"cannot be selected this way \(routed\)"):
        require_explicit_selection(ctx)
