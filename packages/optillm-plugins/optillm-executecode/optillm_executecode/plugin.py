"""The ``executecode`` approach: a code interpreter — the model computes with Python.

Technique: program-aided answering. The model is asked to solve the task, writing a Python
program where computation helps; the program runs in the code sandbox
(``optillm_core.sandbox``); a failed run goes back to the model for a repair, up to
``max_attempts`` runs; then the model writes its final answer with the program's output in
front of it (or, when no version ran, by reasoning and saying so). A reply without code is the
answer. Paper: Gao et al., "PAL: Program-aided Language Models" (2022,
https://arxiv.org/abs/2211.10435); the reference's ``executecode`` plugin.

Code from the request itself runs only when the operator enables it (``allow_user_code``)
*and* the request asks for it (``run_user_code``); then the python blocks of the last user
message run and the model answers with their output. Words in a message never trigger
execution, and a block the model merely copied from the request is not run either.

Security: all code runs only in the sandbox (no network, unprivileged, resource-limited,
throwaway filesystem). The approach runs only when the client selected it by body field or
model prefix; an ``<optillm_approach>`` tag in message text is refused unless the operator
sets ``allow_code_by_tag``. Every run is recorded in the request's trace and log by its hash.
See ``docs/security.md``.

Upstream calls, all dependent: 1 (no code written), 2 (code ran), up to ``max_attempts + 1``
with repairs (3 at the defaults); user code: 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    InvalidRequestError,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.codeexec import (
    CodeRunner,
    SandboxedConfig,
    output_for_prompt,
    require_explicit_selection,
    setting,
)
from optillm_core.models import Message
from optillm_core.prompting import append_to_last_user, continued, instructed
from optillm_core.sandbox import SandboxResult

from .code import model_program, request_blocks, user_program
from .prompts import ANSWER, WRITE_CODE, fix_prompt, result_prompt, user_code_prompt

#: Request parameters every call of the approach honours.
SHARED = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed")
#: Request parameters only the final, answer-writing call honours.
FINAL = ("stop", "response_format")


class ExecuteCodeConfig(SandboxedConfig):
    """Parameters of ``executecode``."""

    max_attempts: int = param(
        2, "Runs of the model's program (a repair call between runs).", ge=1, le=10
    )
    run_user_code: bool = param(
        False,
        "Run the python blocks of the last user message (only where the operator allows user "
        "code with allow_user_code) and answer with their output.",
    )


class ExecuteCode(Approach):
    """The model writes Python where it helps; the sandbox runs it; the output informs the
    final answer."""

    slug = "executecode"
    summary = (
        "Code interpreter: the model's Python runs in the sandbox; its output informs the answer."
    )
    paper = "https://arxiv.org/abs/2211.10435"
    Config = ExecuteCodeConfig
    features = frozenset({"images", "stop", "seed", "response_format"})

    def __init__(self) -> None:
        self.runner = CodeRunner()

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Run the user's code (when enabled and asked for) or the model's, then answer."""
        require_explicit_selection(ctx)
        config: ExecuteCodeConfig = ctx.config
        if config.run_user_code:
            return await self._user_code(ctx, config)
        await self.runner.ensure_available(ctx)
        params = ctx.request_params(SHARED)
        turns = instructed(ctx.messages, WRITE_CODE)
        supplied = request_blocks(ctx.messages)
        reply = await ctx.complete(turns, **params)
        if not reply.text.strip():
            raise ApproachError("executecode: the model returned an empty reply.")
        code = self._program(ctx, reply.text, supplied)
        if not code:
            return ApproachResult(choices=reply.choices[:1])
        last = reply.text
        result = await self._run(ctx, config, code, "attempt 1")
        for attempt in range(2, config.max_attempts + 1):
            if result.ok or not ctx.budget.can_afford(2):
                break
            ask = continued(turns, last, fix_prompt(output_for_prompt(result, config.output_chars)))
            fixed = await ctx.complete(ask, **params)
            repaired = self._program(ctx, fixed.text, supplied)
            if not repaired:
                ctx.log.info("executecode: the repair reply holds no program; answering")
                break
            turns, last = ask, fixed.text
            result = await self._run(ctx, config, repaired, f"attempt {attempt}")
        follow_up = result_prompt(output_for_prompt(result, config.output_chars), result.ok)
        final = continued(instructed(ctx.messages, ANSWER), last, follow_up)
        return await self._final(ctx, final)

    async def _user_code(self, ctx: RequestContext, config: ExecuteCodeConfig) -> ApproachResult:
        """Run the last user message's python blocks, then answer with their output."""
        if not setting(ctx, "allow_user_code"):
            raise InvalidRequestError(
                "executecode: running code supplied in the request is disabled on this server "
                "(its operator may enable it with allow_user_code).",
                param="run_user_code",
                code="user_code_not_allowed",
            )
        code = user_program(ctx.messages)
        if not code:
            raise InvalidRequestError(
                "executecode: run_user_code is set, but the last user message holds no "
                "```python block.",
                param="messages",
            )
        await self.runner.ensure_available(ctx)
        result = await self._run(ctx, config, code, "user code")
        note = user_code_prompt(output_for_prompt(result, config.output_chars), result.ok)
        return await self._final(ctx, append_to_last_user(instructed(ctx.messages), note))

    def _program(self, ctx: RequestContext, reply: str, supplied: set[str]) -> str:
        code, copied = model_program(reply, supplied)
        if copied:
            ctx.log.info(
                "executecode: %d block(s) copied from the request were not run "
                "(user code runs only with allow_user_code and run_user_code)",
                copied,
            )
        return code

    async def _run(
        self, ctx: RequestContext, config: ExecuteCodeConfig, code: str, label: str
    ) -> SandboxResult:
        return await self.runner.run(
            ctx, code, timeout=config.run_timeout, allowed_modules=config.modules, label=label
        )

    async def _final(self, ctx: RequestContext, messages: list[Message]) -> ApproachResult:
        """The answer-writing call; streamed when the client streams."""
        params = {**ctx.request_params(SHARED), **ctx.request_params(FINAL)}
        if ctx.request.stream:
            return ApproachResult(
                stream=ctx.stream({"model": ctx.model, "messages": messages, **params})
            )
        answer = await ctx.complete(messages, **params)
        if not answer.choices or not answer.text.strip():
            raise ApproachError("executecode: the final answer came back empty.")
        return ApproachResult(choices=answer.choices[:1])


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``executecode``."""
    register(ExecuteCode())
