"""The ``coc`` approach: Chain of Code — write a program, run it, simulate it if it won't run.

Technique: the model answers by writing a Python program that stores its result in
``answer``; the program runs in the code sandbox (``optillm_core.sandbox``); when it fails,
the model gets the error and writes a corrected program, up to ``max_attempts`` runs; when no
version runs, the model is asked to *simulate* the program (the "LMulator" of the paper) and
report the value ``answer`` would hold. Paper: Li et al., "Chain of Code: Reasoning with a
Language Model-Augmented Code Emulator" (2023, https://arxiv.org/abs/2312.04474).

Security: the program is model-written, so it is treated as hostile and only ever runs in the
sandbox (no network, unprivileged, resource-limited, throwaway filesystem). The approach runs
only when the client selected it by body field or model prefix; a ``<optillm_approach>`` tag
in message text is refused unless the operator sets ``allow_code_by_tag``. Every run is
recorded in the request's trace and log by its hash. See ``docs/security.md``.

Upstream calls, all dependent: 1 (the first program runs) … ``max_attempts + 1`` (one repair
call between runs, then one simulation call): 1 to 4 at the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from optillm_core import Approach, ApproachError, ApproachResult, RequestContext, hookimpl, param
from optillm_core.codeexec import (
    CodeRunner,
    SandboxedConfig,
    fenced_blocks,
    output_for_prompt,
    require_explicit_selection,
)
from optillm_core.models import Message
from optillm_core.prompting import continued, instructed

from .program import prepare, program_output, prose, read_answer, simulated_answer
from .prompts import WRITE_PROGRAM, fix_prompt, simulate_prompt

LIMIT_PARAMS = ("max_tokens", "max_completion_tokens", "seed")


class CocConfig(SandboxedConfig):
    """Parameters of ``coc``."""

    max_attempts: int = param(
        3, "Program runs (the first, then repaired versions) before simulation.", ge=1, le=10
    )
    bare_answer: bool = param(
        False, "Answer with the value of `answer` only (the reference's output), no explanation."
    )
    write_temperature: float = param(0.7, "Temperature of the program-writing call.", ge=0, le=2)
    fix_temperature: float = param(
        0.2, "Temperature of the repair and simulation calls.", ge=0, le=2
    )


@dataclasses.dataclass
class _Attempt:
    """The state of the write, run and repair loop."""

    turns: list[Message]
    reply: str
    code: str
    explanation: str
    output: str = ""


class ChainOfCode(Approach):
    """Writes a program, runs it in the sandbox, repairs it, else simulates it."""

    slug = "coc"
    summary = (
        "Chain of Code: the model writes a program, the sandbox runs it (else it is simulated)."
    )
    paper = "https://arxiv.org/abs/2312.04474"
    Config = CocConfig
    features = frozenset({"images", "seed"})

    def __init__(self) -> None:
        self.runner = CodeRunner()

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Write, run (and repair) the program; fall back to simulating it."""
        require_explicit_selection(ctx)
        await self.runner.ensure_available(ctx)
        config: CocConfig = ctx.config
        params = ctx.request_params(LIMIT_PARAMS)
        turns = instructed(ctx.messages, WRITE_PROGRAM)
        first = await ctx.complete(turns, temperature=config.write_temperature, **params)
        if not first.text.strip():
            raise ApproachError("coc: the model returned an empty reply instead of a program.")
        blocks = fenced_blocks(first.text)
        if not blocks:
            ctx.log.info("coc: the reply holds no python block; returned as the answer")
            return ApproachResult(choices=first.choices[:1])
        state = _Attempt(turns, first.text, blocks[0], prose(first.text))
        for attempt in range(1, config.max_attempts + 1):
            value = await self._execute(ctx, config, state, attempt)
            if value is not None:
                return ApproachResult.text(self._answer(config, value, state.explanation, True))
            if attempt == config.max_attempts or not ctx.budget.can_afford(2):
                break
            if not await self._repair(ctx, config, state, params):
                break
        follow_up = simulate_prompt(state.code, state.output)
        simulated = await ctx.complete(
            continued(state.turns, state.reply, follow_up),
            temperature=config.fix_temperature,
            **params,
        )
        if not simulated.text.strip():
            raise ApproachError("coc: the program did not run and its simulation came back empty.")
        value = simulated_answer(simulated.text)
        return ApproachResult.text(self._answer(config, value, state.explanation, False))

    async def _execute(
        self, ctx: RequestContext, config: CocConfig, state: _Attempt, attempt: int
    ) -> str | None:
        """Run the current program; the value of ``answer``, or None (``state.output`` set)."""
        program = prepare(state.code)
        result = await self.runner.run(
            ctx,
            program.source,
            timeout=config.run_timeout,
            allowed_modules=config.modules,
            label=f"attempt {attempt}",
        )
        value = read_answer(result.stdout, program.marker) if result.ok else None
        if value is not None:
            return value
        shown = dataclasses.replace(result, stdout=program_output(result.stdout, program.marker))
        state.output = output_for_prompt(shown, config.output_chars)
        if result.ok:
            state.output += "\nThe program exited before reporting `answer` (did it call exit()?)."
        return None

    async def _repair(
        self, ctx: RequestContext, config: CocConfig, state: _Attempt, params: dict[str, Any]
    ) -> bool:
        """Ask for a corrected program; False when the reply holds none."""
        state.turns = continued(state.turns, state.reply, fix_prompt(state.code, state.output))
        fixed = await ctx.complete(state.turns, temperature=config.fix_temperature, **params)
        blocks = fenced_blocks(fixed.text)
        if not blocks:
            ctx.log.info("coc: the repair reply holds no python block; simulating instead")
            state.turns = state.turns[:-2]
            return False
        state.reply, state.code = fixed.text, blocks[0]
        state.explanation = prose(fixed.text) or state.explanation
        return True

    @staticmethod
    def _answer(config: CocConfig, value: str, explanation: str, ran: bool) -> str:
        if config.bare_answer:
            return value
        how = (
            "The value was computed by running the generated Python program."
            if ran
            else "The program could not be run successfully, so this value comes from the "
            "model simulating it step by step."
        )
        return f"{value}\n\nExplanation: {explanation} {how}".replace(":  ", ": ")


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``coc``."""
    register(ChainOfCode())
