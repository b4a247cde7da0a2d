"""The ``moa`` approach: Mixture of Agents with one model (drafts, critique, synthesis).

Technique: several independent drafts ("proposers"), one review of all drafts, then one
aggregation call that writes the final answer from the drafts and the review. Paper: Wang et
al., "Mixture-of-Agents Enhances Large Language Model Capabilities" (2024,
https://arxiv.org/abs/2406.04692). Like the reference, it uses the request's single model and
one aggregation layer, with an explicit critique step before aggregation.

Three dependent rounds: all drafts in one ``ctx.sample`` (one call with native ``n``, concurrent
calls otherwise), the critique, the final answer (streamed when the client streams).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    Choice,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.prompting import append_to_last_user, conversation, generation_limit

from .prompts import Draft, critique_prompt, final_prompt

#: Request fields passed on to the final call (the one that writes the answer).
FORWARDED = ("stop", "response_format")


class MoaConfig(BaseModel):
    """Parameters of ``moa``."""

    model_config = ConfigDict(extra="forbid")

    candidates: int = param(3, "Draft responses written in the first round.", ge=1, le=16)
    critique_max_tokens: int = param(512, "Token limit of the critique call.", ge=1)
    critique_temperature: float = param(0.1, "Temperature of the critique call.", ge=0.0, le=2.0)
    final_temperature: float = param(0.1, "Temperature of the final call.", ge=0.0, le=2.0)
    sample_temperature: float = param(1.0, "Temperature of the drafts.", ge=0.0, le=2.0)
    default_max_tokens: int = param(
        4096,
        "Token limit of the drafts and the final answer when the request sets neither "
        "max_tokens nor max_completion_tokens (0: send no limit).",
        ge=0,
    )


def _best_draft(drafts: Sequence[Choice]) -> Choice:
    """The first draft that finished normally, else the first draft."""
    return next((c for c in drafts if c.finish_reason != "length"), drafts[0])


class MixtureOfAgents(Approach):
    """Drafts in one round, a critique of all drafts, a final answer from drafts + critique."""

    slug = "moa"
    summary = "Mixture of Agents: several drafts, one critique, one synthesized final answer."
    paper = "https://arxiv.org/abs/2406.04692"
    Config = MoaConfig
    features = frozenset({"images", "stop", "response_format"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Draft, critique, synthesize; the final call streams when the request streams."""
        config: MoaConfig = ctx.config
        turns = conversation(ctx.messages)
        limit = generation_limit(ctx, config.default_max_tokens)
        sampled = await ctx.sample(
            config.candidates, turns, temperature=config.sample_temperature, **limit
        )
        drafts = [choice for choice in sampled if choice.text.strip()]
        if not drafts:
            raise ApproachError(
                f"moa: none of the {len(sampled)} drafts had any content.", code="no_candidates"
            )
        if len(drafts) < config.candidates:
            ctx.log.warning("moa: %d of %d drafts usable", len(drafts), config.candidates)
        if not ctx.budget.can_afford(2):
            ctx.log.warning("moa: budget too small for critique and synthesis; best draft kept")
            return ApproachResult(choices=[_best_draft(drafts)])
        shown = [Draft(c.text, truncated=c.finish_reason == "length") for c in drafts]
        critique = await ctx.complete(
            append_to_last_user(turns, critique_prompt(shown)),
            temperature=config.critique_temperature,
            max_tokens=config.critique_max_tokens,
        )
        final_messages = append_to_last_user(
            turns, final_prompt(shown, critique.text, critique.finish_reason == "length")
        )
        params = {**limit, **ctx.request_params(FORWARDED), "temperature": config.final_temperature}
        streamed = ctx.stream_final(final_messages, **params)  # moa runs with n=1
        if streamed is not None:
            return streamed
        final = await ctx.complete(final_messages, **params)
        if final.choices and final.choices[0].text.strip():
            return ApproachResult(choices=[final.choices[0]])
        ctx.log.warning("moa: the final call returned no content; best draft returned")
        return ApproachResult(choices=[_best_draft(drafts)])


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``moa``."""
    register(MixtureOfAgents())
