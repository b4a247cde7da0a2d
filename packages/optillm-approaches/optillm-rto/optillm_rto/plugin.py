"""The ``rto`` approach: round-trip optimization for code.

Technique: answer the request (C1); have the model turn its own code into an instruction
precise enough to rebuild it (Q2); answer that instruction from scratch in a fresh conversation
(C2); compare the code of C1 and C2. The same code means the solution survived the round trip
and C1's code is returned; different code gets one more call that merges both into a final,
optimized version (C3). Every step needs the one before it, so the rounds are inherently
sequential: 3 when the codes agree, 4 when they differ.
Paper: Allamanis, Panthaplackel, Yin, "Unsupervised Evaluation of Code LLMs with Round-Trip
Correctness" (2024, arXiv:2402.08699), used here at inference time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    Completion,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.prompting import conversation, generation_limit, usable_text, with_system

from .code import extract_code, same_code

INSTRUCTION_REQUEST = """\
Write an instruction from which a programmer who has never seen your answer would write exactly \
the same code. State the task, the language, the inputs and outputs, the algorithm and data \
structures, the names of functions and variables, and how edge cases are handled. Reply with the \
instruction only, without any code."""

SYNTHESIS = """\
Two implementations were written independently for the task below. Compare them, keep what is \
correct and efficient in each, fix any bugs, and write one final, optimized implementation.

Task:
{query}

Implementation A:
```
{first}
```

Implementation B:
```
{second}
```

Reply with the final code in one fenced code block, followed by at most a short explanation."""


class RtoConfig(BaseModel):
    """Parameters of ``rto``."""

    model_config = ConfigDict(extra="forbid")

    default_temperature: float = param(
        0.1, "Sampling temperature of every call when the request sends none.", ge=0, le=2
    )
    default_max_tokens: int = param(
        4096,
        "Token limit of the code calls when the request sends none (0: send none).",
        ge=0,
    )
    instruction_max_tokens: int = param(
        1024, "Token limit of the call that writes the reconstruction instruction.", ge=1
    )


class Rto(Approach):
    """Round trip: answer, describe, rebuild, compare; synthesize only when they differ."""

    slug = "rto"
    summary = (
        "Round-trip optimization for code: answer, rebuild from a self-written instruction, "
        "compare, merge only when the two codes differ."
    )
    paper = "https://arxiv.org/abs/2402.08699"
    Config = RtoConfig
    features: ClassVar[frozenset[str]] = frozenset({"seed"})

    def sampling(self, ctx: RequestContext) -> dict[str, Any]:
        """The client's temperature (else the default), top_p and seed."""
        config: RtoConfig = ctx.config
        sent = ctx.request_params(["temperature", "top_p", "seed"])
        return {"temperature": sent.pop("temperature", config.default_temperature), **sent}

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Three sequential calls, and a fourth only when the two codes differ."""
        config: RtoConfig = ctx.config
        sampling = self.sampling(ctx)
        params = {**sampling, **generation_limit(ctx, config.default_max_tokens)}
        turns = conversation(ctx.messages)

        first = usable_text(await ctx.complete(turns, **params), "rto (first answer)")
        asked = [
            *turns,
            {"role": "assistant", "content": first},
            {"role": "user", "content": INSTRUCTION_REQUEST},
        ]
        limit = {"max_tokens": config.instruction_max_tokens}
        instruction = self.instruction(ctx, await ctx.complete(asked, **sampling, **limit))
        fresh = with_system(ctx.system_prompt, [{"role": "user", "content": instruction}])
        second = usable_text(await ctx.complete(fresh, **params), "rto (regenerated answer)")

        first_code, second_code = extract_code(first), extract_code(second)
        if same_code(first_code, second_code):
            return ApproachResult.text(first_code)
        prompt = SYNTHESIS.format(query=ctx.query, first=first_code, second=second_code)
        merge = with_system(ctx.system_prompt, [{"role": "user", "content": prompt}])
        if ctx.request.stream:
            return ApproachResult(
                stream=ctx.stream({"model": ctx.model, "messages": merge, **params})
            )
        final = await ctx.complete(merge, **params)
        text = final.text.strip()
        if not text:
            raise ApproachError("rto (final synthesis): the upstream returned an empty reply.")
        return ApproachResult.text(text, final.finish_reason)

    def instruction(self, ctx: RequestContext, reply: Completion) -> str:
        """The reconstruction instruction; one cut off by its token limit is used as far as
        it got (the rebuilt code then differs and the final synthesis sees both versions)."""
        text = reply.text.strip()
        if not text:
            raise ApproachError("rto (instruction): the upstream returned an empty reply.")
        if reply.finish_reason == "length":
            ctx.log.warning("rto: the reconstruction instruction was cut off; using it as is")
        return text


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``rto``."""
    register(Rto())
