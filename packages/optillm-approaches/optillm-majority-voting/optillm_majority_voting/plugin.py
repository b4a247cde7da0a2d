"""The ``majority_voting`` approach: sample ``k`` answers, return the most common final answer.

Technique: majority voting over sampled reasoning paths (self-consistency). Paper: Wang et al.,
"Self-Consistency Improves Chain of Thought Reasoning in Language Models", 2022,
https://arxiv.org/abs/2203.11171.

All ``k`` samples are drawn in one round (one upstream call with native ``n``, else ``k``
concurrent calls). Samples are clustered on ``optillm_core.answers.answer_key`` (ties go to the
answer seen first) and the first sample with the winning answer is returned unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachResult,
    Choice,
    RequestContext,
    gather,
    hookimpl,
    param,
)
from optillm_core.models import Message
from optillm_core.prompting import conversation, generation_limit

from .voting import vote

MAX_POOLED_N = 128
"""Most choices asked of one upstream call (OpenAI's own limit on ``n``)."""

#: Request fields passed on to the samples (the answer is one of them).
FORWARDED = ("top_p", "stop", "response_format")


class MajorityVotingConfig(BaseModel):
    """Parameters of ``majority_voting``."""

    model_config = ConfigDict(extra="forbid")

    k: int = param(
        8,
        "Samples drawn per vote.",
        ge=1,
        le=64,
    )
    sample_temperature: float = param(
        0.6,
        "Sampling temperature when the request sets no `temperature`.",
        ge=0.0,
        le=2.0,
    )
    default_max_tokens: int = param(
        4096,
        "Token limit of each sample when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )
    answer_kind: Literal["math", "mcq", "exact", "general"] = param(
        "math",
        "How final answers are extracted and compared (see optillm_core.answers).",
    )


class MajorityVoting(Approach):
    """Draws ``k`` samples in one round and returns the one with the majority answer.

    Handles ``n`` itself: ``n=N`` runs ``N`` independent votes over ``N`` disjoint groups of
    ``k`` samples, all drawn in the same round (one upstream call of ``N*k`` choices when the
    upstream has native ``n`` and ``N*k <= 128``).
    """

    slug = "majority_voting"
    summary = "Sample k answers and return the one whose final answer is most common."
    paper = "https://arxiv.org/abs/2203.11171"
    Config = MajorityVotingConfig
    handles_n = True
    features = frozenset({"images", "stop", "response_format"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Draw ``n*k`` samples concurrently and vote within each group of ``k``."""
        config: MajorityVotingConfig = ctx.config
        k, n = config.k, ctx.request.n
        params = {
            "temperature": config.sample_temperature,
            **generation_limit(ctx, config.default_max_tokens),
            **ctx.request_params(("temperature", *FORWARDED)),
        }
        samples = await _draw(ctx, n, k, conversation(ctx.messages), params)
        question = ctx.query
        choices: list[Choice] = []
        for group in range(n):
            tally = vote(samples[group * k : (group + 1) * k], config.answer_kind, question)
            ctx.log.debug(
                "majority_voting: %s, key=%r with %d of %d usable samples",
                tally.reason,
                tally.key,
                tally.votes,
                tally.usable,
            )
            choices.append(tally.choice)
        return ApproachResult(choices=choices)


async def _draw(
    ctx: RequestContext, n: int, k: int, turns: list[Message], params: dict[str, Any]
) -> list[Choice]:
    """``n*k`` samples in one round: pooled into one ``sample`` call where that fits."""
    if n * k <= MAX_POOLED_N:
        return await ctx.sample(n * k, turns, **params)
    groups = await gather(*(functools.partial(ctx.sample, k, turns, **params) for _ in range(n)))
    return [choice for group in groups for choice in group]


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``majority_voting``."""
    register(MajorityVoting())
