"""The ``bon`` approach: Best-of-N sampling with an LLM judge.

Technique: draw N candidate answers, have the same model score each one from 0 to 10, return
the best (the "LLM-as-a-judge" reranking of best-of-N sampling). Papers: Stiennon et al.,
"Learning to summarize from human feedback" (2020, best-of-N against a scorer) and Zheng et al.,
"Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena" (2023, the model as its own judge).

Two dependent rounds: all N candidates in one ``ctx.sample`` (one call with native ``n``, N
concurrent calls otherwise), then every rating concurrently.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    RequestContext,
    gather,
    hookimpl,
    param,
)
from optillm_core.models import Message
from optillm_core.prompting import conversation, generation_limit, usable_choices

from .rating import best_index, parse_rating, rating_messages

#: Request fields passed on to the candidate generations (the answer is one of them).
FORWARDED = ("stop", "response_format")


class BonConfig(BaseModel):
    """Parameters of ``bon``."""

    model_config = ConfigDict(extra="forbid")

    count: int = param(
        3,
        "Candidates generated and rated (N).",
        aliases=["best_of_n"],
        flags=["--best-of-n", "--best_of_n"],
        env=["OPTILLM_BEST_OF_N"],
        ge=1,
        le=32,
    )
    sample_temperature: float = param(
        1.0, "Temperature of the candidate generations.", ge=0.0, le=2.0
    )
    rating_temperature: float = param(0.1, "Temperature of the rating calls.", ge=0.0, le=2.0)
    rating_max_tokens: int = param(256, "Token limit of each rating call.", ge=1)
    default_max_tokens: int = param(
        4096,
        "Token limit of each candidate when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


class BestOfN(Approach):
    """Best-of-N: N candidates in one round, all rated concurrently, the best returned."""

    slug = "bon"
    summary = "Best-of-N: sample N answers, let the model rate each 0-10, return the best."
    paper = "https://arxiv.org/abs/2306.05685"
    Config = BonConfig
    features = frozenset({"images", "stop", "response_format"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Generate, rate concurrently, return the highest-rated candidate (first on ties)."""
        config: BonConfig = ctx.config
        turns = conversation(ctx.messages)
        params = {
            **generation_limit(ctx, config.default_max_tokens),
            **ctx.request_params(FORWARDED),
        }
        drafts = await ctx.sample(
            config.count, turns, temperature=config.sample_temperature, **params
        )
        candidates = usable_choices(drafts)
        if not candidates:
            raise ApproachError(
                f"bon: none of the {len(drafts)} candidates had any content.", code="no_candidates"
            )
        texts = list(dict.fromkeys(choice.text for choice in candidates))
        if len(texts) == 1:
            return ApproachResult(choices=[candidates[0]])
        if not ctx.budget.can_afford(len(texts)):
            ctx.log.warning("bon: budget too small to rate %d candidates; first kept", len(texts))
            return ApproachResult(choices=[candidates[0]])
        scores = await gather(*(functools.partial(self._rate, ctx, turns, text) for text in texts))
        by_text = dict(zip(texts, scores, strict=True))
        ratings = [by_text[choice.text] for choice in candidates]
        ctx.log.debug("bon ratings: %s", ratings)
        return ApproachResult(choices=[candidates[best_index(ratings)]])

    async def _rate(
        self, ctx: RequestContext, turns: list[Message], candidate: str
    ) -> float | None:
        """One judge call; ``None`` when no score can be read from its reply."""
        config: BonConfig = ctx.config
        reply = await ctx.complete(
            rating_messages(turns, ctx.system_prompt, candidate),
            temperature=config.rating_temperature,
            max_tokens=config.rating_max_tokens,
        )
        return parse_rating(reply.text, complete=reply.finish_reason != "length")


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``bon``."""
    register(BestOfN())
