"""The ``plansearch`` approach: PlanSearch for code generation.

Technique: for each of ``n`` independent attempts, the model lists non-obvious observations
about the problem, derives new observations from them, turns them into a solution described
in plain language, and only then writes the code. Searching over ideas in natural language
gives more diverse solutions than sampling code directly. The ``n`` attempts run concurrently
(their first step is one call with native ``n``), so a request takes 4 dependent rounds
whatever ``n`` is, and returns ``n`` choices.
Paper: Wang et al., "Planning In Natural Language Improves LLM Search For Code Generation"
(2024, arXiv:2409.03733).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    Choice,
    Completion,
    RequestContext,
    gather,
    hookimpl,
    param,
)
from optillm_core.models import Message
from optillm_core.prompting import generation_limit, numbered, usable_text, with_system

from . import prompts


class PlanSearchConfig(BaseModel):
    """Parameters of ``plansearch``."""

    model_config = ConfigDict(extra="forbid")

    num_observations: int = param(3, "Observations asked for in the first step.", ge=1, le=20)
    num_derived_observations: int = param(
        2, "New observations derived from them (0: skip that step).", ge=0, le=20
    )
    default_max_tokens: int = param(
        4096, "Token limit of every call when the request sends none (0: send none).", ge=0
    )


def _observations(choice: Choice, step: str) -> list[str]:
    """The observations of one list reply; ``ApproachError`` when it holds none."""
    text = (choice.content or "").strip()
    found = prompts.read_observations(text, cut_off=choice.finish_reason == "length")
    if not found:
        raise ApproachError(f"plansearch ({step}): the upstream's reply holds no observations.")
    return found


class PlanSearch(Approach):
    """Observations → derived observations → plan in words → code, ``n`` times concurrently."""

    slug = "plansearch"
    summary = (
        "PlanSearch for code: observations, derived observations, a plan in words, then code; "
        "n plans concurrently."
    )
    paper = "https://arxiv.org/abs/2409.03733"
    Config = PlanSearchConfig
    handles_n: ClassVar[bool] = True
    features: ClassVar[frozenset[str]] = frozenset({"seed"})

    def params(self, ctx: RequestContext) -> dict[str, Any]:
        """The client's temperature, top_p and seed, and the token limit."""
        config: PlanSearchConfig = ctx.config
        return {
            **ctx.request_params(["temperature", "top_p", "seed"]),
            **generation_limit(ctx, config.default_max_tokens),
        }

    def ask(self, ctx: RequestContext, prompt: str) -> list[Message]:
        """One step's messages: the client's system prompt, then the step's prompt."""
        return with_system(ctx.system_prompt, [{"role": "user", "content": prompt}])

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """``n`` plans: the first step in one call, the rest of each plan concurrently."""
        config: PlanSearchConfig = ctx.config
        problem = ctx.query
        first = prompts.OBSERVE.format(problem=problem, count=config.num_observations)
        seeds = await ctx.sample(ctx.request.n, self.ask(ctx, first), **self.params(ctx))
        plans = [functools.partial(self.solve, ctx, problem, seed) for seed in seeds]
        return ApproachResult(choices=await gather(*plans))

    async def solve(self, ctx: RequestContext, problem: str, seed: Choice) -> Choice:
        """One plan from its first observations: derive, describe, implement."""
        config: PlanSearchConfig = ctx.config
        params = self.params(ctx)
        observations = _observations(seed, "observations")
        if config.num_derived_observations:
            prompt = prompts.DERIVE.format(
                problem=problem,
                observations=numbered(observations),
                count=config.num_derived_observations,
            )
            reply = await ctx.complete(self.ask(ctx, prompt), **params)
            observations += _observations(_first(reply), "derived observations")
        prompt = prompts.PLAN.format(problem=problem, observations=numbered(observations))
        plan = usable_text(
            await ctx.complete(self.ask(ctx, prompt), **params), "plansearch (plan in words)"
        )
        code = await ctx.complete(
            self.ask(ctx, prompts.CODE.format(problem=problem, plan=plan)), **params
        )
        text = code.text.strip()
        if not text:
            raise ApproachError("plansearch (code): the upstream returned an empty reply.")
        return Choice(text, code.finish_reason)


def _first(reply: Completion) -> Choice:
    return reply.choices[0] if reply.choices else Choice(None)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``plansearch``."""
    register(PlanSearch())
