"""The ``z3`` approach: formalize the problem for the Z3 solver, solve it, explain the result.

Technique: solver-aided reasoning. An analysis call decides whether a solver applies and, if
so, writes the problem for Z3 — SMT-LIB 2 preferred, a Python program using z3 or sympy
allowed; the formalization is solved inside the code sandbox with Z3's own timeout; a parse
error, crash, timeout or undecided result goes back to the model for a corrected
formalization, up to ``max_attempts`` runs; a final call explains the solver's result as the
answer. When no solver applies, or no formalization could be solved, the model answers
normally. Paper: de Moura & Bjørner, "Z3: An Efficient SMT Solver" (TACAS 2008,
https://doi.org/10.1007/978-3-540-78800-3_24); the LLM-writes-solver-input pattern follows
Ye et al., "SatLM: Satisfiability-Aided Language Models" (2023,
https://arxiv.org/abs/2305.09656); the reference's ``z3`` approach.

Security: nothing the model writes runs in the proxy. SMT-LIB is parsed and solved by a fixed
runner program in the sandbox (Z3 can exhaust memory and CPU), and Python formalizations run
only as the sandbox's program (no network, unprivileged, resource-limited, throwaway
filesystem). The approach runs only when the client selected it by body field or model
prefix; an ``<optillm_approach>`` tag in message text is refused unless the operator sets
``allow_code_by_tag``. Every run is recorded in the request's trace and log by its hash. See
``docs/security.md``.

Upstream calls, all dependent: 2 (no solver applies, or the first formalization solves) up to
``max_attempts + 1`` (one repair call between runs, then the answer): 2 to 4 at the defaults.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    OptillmError,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.codeexec import CodeRunner, output_for_prompt, require_explicit_selection
from optillm_core.models import Message
from optillm_core.prompting import append_to_last_user, continued, instructed

from .formal import Formalization, Kind, extract, failure, runner_for, solver_applies, syntax_error
from .prompts import analysis_prompt, explain_prompt, fix_prompt

#: Request parameters of the answer-writing call (the analysis has its own limit).
FINAL = ("max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "response_format")
#: Seconds an SMT-LIB run gets beyond Z3's own timeout (start-up, parsing, printing).
SOLVER_GRACE = 5.0
#: Modules a formalization may import, by kind.
MODULES = {Kind.SMT: ("z3",), Kind.PYTHON: ("z3", "sympy")}


class Z3Config(BaseModel):
    """Parameters of ``z3``."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = param(
        3,
        "Solver runs (the first formalization, then repaired ones) before a plain answer.",
        ge=1,
        le=10,
    )
    solver_timeout: float = param(
        10.0,
        "Z3's own time limit per check, in seconds (SMT-LIB). Operator only.",
        operator_only=True,
        gt=0,
        le=600,
    )
    run_timeout: float = param(
        30.0,
        "Wall-clock seconds one sandbox run may take (SMT-LIB: at least solver_timeout + 5). "
        "Operator only.",
        operator_only=True,
        gt=0,
        le=600,
    )
    allow_python: bool = param(
        True,
        "Accept Python formalizations (z3 or sympy programs, run in the sandbox). Operator only.",
        operator_only=True,
    )
    analysis_max_tokens: int = param(
        1024, "Token limit of the analysis and repair calls.", ge=16, le=131_072
    )
    analysis_temperature: float = param(
        0.1, "Temperature of the analysis and repair calls.", ge=0, le=2
    )
    answer_temperature: float = param(
        0.1, "Temperature of the answer when the request sets none.", ge=0, le=2
    )
    output_chars: int = param(
        4000, "Most characters of solver output shown to the model.", ge=200, le=100_000
    )


class Z3Solver(Approach):
    """Analysis → formalization → sandboxed Z3 run (with repairs) → explained answer."""

    slug = "z3"
    summary = (
        "Formalizes the problem for the Z3 solver (SMT-LIB), solves it in the sandbox, explains."
    )
    paper = "https://arxiv.org/abs/2305.09656"
    Config = Z3Config
    features = frozenset({"images", "stop", "seed", "response_format"})

    def __init__(self) -> None:
        self.runner = CodeRunner()

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Analyse; solve (repairing the formalization) where a solver applies; answer."""
        require_explicit_selection(ctx)
        if importlib.util.find_spec("z3") is None:
            raise OptillmError("z3: the z3-solver package is not installed on this server.")
        await self.runner.ensure_available(ctx)
        config: Z3Config = ctx.config
        turns = instructed(ctx.messages, analysis_prompt(config.allow_python))
        analysis = await self._ask(ctx, config, turns)
        formal = extract(analysis, config.allow_python) if solver_applies(analysis) else None
        if formal is None:
            ctx.log.info("z3: no solver formalization; answering directly")
            return await self._answer(ctx, config, instructed(ctx.messages))
        reply = analysis
        for attempt in range(1, config.max_attempts + 1):
            reason, output = await self._solve(ctx, config, formal, attempt)
            if reason is None:
                note = explain_prompt(formal, output)
                return await self._answer(
                    ctx, config, append_to_last_user(instructed(ctx.messages), note)
                )
            if attempt == config.max_attempts or not ctx.budget.can_afford(2):
                break
            ask = continued(turns, reply, fix_prompt(formal, reason, output, config.allow_python))
            fixed = await self._ask(ctx, config, ask)
            repaired = extract(fixed, config.allow_python)
            if repaired is None:
                ctx.log.info("z3: the repair reply holds no formalization")
                break
            turns, reply, formal = ask, fixed, repaired
        ctx.log.info("z3: no usable solver result; answering without the solver")
        return await self._answer(ctx, config, instructed(ctx.messages))

    async def _ask(self, ctx: RequestContext, config: Z3Config, turns: list[Message]) -> str:
        """An analysis or repair call; its text (a cut-off reply is used as far as it goes)."""
        completion = await ctx.complete(
            turns,
            temperature=config.analysis_temperature,
            max_tokens=config.analysis_max_tokens,
            **ctx.request_params(["seed"]),
        )
        if completion.finish_reason == "length":
            ctx.log.info("z3: an analysis or repair reply was cut off at analysis_max_tokens")
        return completion.text

    async def _solve(
        self, ctx: RequestContext, config: Z3Config, formal: Formalization, attempt: int
    ) -> tuple[str | None, str]:
        """Run ``formal`` in the sandbox: (why it failed or None, what it reported)."""
        error = syntax_error(formal)
        if error is not None:
            return "the program is not valid Python", error
        program, stdin = runner_for(formal, config.solver_timeout)
        wall = config.run_timeout
        if formal.kind is Kind.SMT:  # Z3's own timeout should end the check, not the kill
            wall = max(wall, config.solver_timeout + SOLVER_GRACE)
        result = await self.runner.run(
            ctx,
            program,
            timeout=wall,
            allowed_modules=MODULES[formal.kind],
            stdin=stdin,
            label=f"attempt {attempt} ({formal.kind})",
        )
        return failure(formal, result), output_for_prompt(result, config.output_chars)

    async def _answer(
        self, ctx: RequestContext, config: Z3Config, messages: list[Message]
    ) -> ApproachResult:
        """The answer-writing call (streamed when the client streams)."""
        params = {"temperature": config.answer_temperature, **ctx.request_params(FINAL)}
        params.update(ctx.request_params(["seed"]))
        if ctx.request.stream:
            return ApproachResult(
                stream=ctx.stream({"model": ctx.model, "messages": messages, **params})
            )
        answer = await ctx.complete(messages, **params)
        if not answer.choices or not answer.text.strip():
            raise ApproachError("z3: the answer came back empty.")
        return ApproachResult(choices=answer.choices[:1])


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``z3``."""
    register(Z3Solver())
