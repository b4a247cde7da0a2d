"""The ``genselect`` approach: generate candidates, let the model select the best one.

Technique: GenSelect, generative solution selection, from the winning AIMO-2 solution: sample
several complete solutions, then show them all to the model in one prompt and let it compare
them and name the best. Paper: Moshkov et al., "AIMO-2 Winning Solution: Building
State-of-the-Art Mathematical Reasoning Models with OpenMathReasoning dataset", 2025,
https://arxiv.org/abs/2504.16891.

Two dependent rounds by default: every candidate in one ``ctx.sample`` (one call with native
``n``, concurrent calls otherwise), then one selection call (``batch`` mode). ``tournament``
mode instead runs knockout matches of two, each round of matches concurrently.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    Choice,
    RequestContext,
    gather,
    hookimpl,
    param,
)
from optillm_core.prompting import conversation, generation_limit, usable_choices

from .selection import fallback_index, parse_choice, selection_messages

#: Request fields passed on to the candidates (the answer is one of them).
FORWARDED = ("top_p", "stop", "response_format")


class GenSelectConfig(BaseModel):
    """Parameters of ``genselect``."""

    model_config = ConfigDict(extra="forbid")

    num_candidates: int = param(4, "Candidates generated.", ge=2, le=16)
    sample_temperature: float = param(
        0.7, "Temperature of the candidates when the request sets no `temperature`.", ge=0, le=2
    )
    comparison_temperature: float = param(
        0.3, "Temperature of the selection call(s).", ge=0.0, le=2.0
    )
    comparison_mode: Literal["batch", "tournament"] = param(
        "batch",
        "`batch`: one call compares all candidates; `tournament`: knockout matches of two.",
    )
    include_reasoning: bool = param(False, "Append the selector's reasoning to the chosen answer.")
    comparison_max_tokens: int = param(2048, "Token limit of each selection call.", ge=1)
    default_max_tokens: int = param(
        4096,
        "Token limit of each candidate when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


class GenSelect(Approach):
    """GenSelect: candidates in one round, then the model picks the best in one call."""

    slug = "genselect"
    summary = "Generate several candidates, then let the model compare them and pick the best."
    paper = "https://arxiv.org/abs/2504.16891"
    Config = GenSelectConfig
    features = frozenset({"images", "stop", "response_format"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Sample the candidates, select one, return it (with the verdict's reasoning if asked)."""
        config: GenSelectConfig = ctx.config
        params = {
            "temperature": config.sample_temperature,
            **generation_limit(ctx, config.default_max_tokens),
            **ctx.request_params(("temperature", *FORWARDED)),
        }
        drafts = await ctx.sample(config.num_candidates, conversation(ctx.messages), **params)
        candidates = usable_choices(drafts)
        if not candidates:
            raise ApproachError(
                f"genselect: none of the {len(drafts)} candidates had any content.",
                code="no_candidates",
            )
        texts = list(dict.fromkeys(choice.text for choice in candidates))
        if len(texts) == 1:
            return ApproachResult(choices=[candidates[0]])
        if config.comparison_mode == "tournament":
            winner, reasoning = await self._tournament(ctx, texts)
        else:
            winner, reasoning = await self._select(ctx, texts)
        chosen = next(choice for choice in candidates if choice.text == winner)
        if config.include_reasoning and reasoning:
            content = f"{chosen.text}\n\n---\nWhy this answer was selected:\n{reasoning.strip()}"
            chosen = Choice(content, chosen.finish_reason, dict(chosen.extra))
        return ApproachResult(choices=[chosen])

    async def _select(self, ctx: RequestContext, texts: Sequence[str]) -> tuple[str, str]:
        """One selection call over ``texts``; returns the winner and the selector's reply.

        When the reply names no valid candidate (or the budget has no call left), the
        fallback of :func:`fallback_index` decides and the reasoning is empty.
        """
        config: GenSelectConfig = ctx.config
        if not ctx.budget.can_afford(1):
            ctx.log.warning("genselect: no budget left for a selection call; falling back")
            return texts[fallback_index(texts, ctx.query)], ""
        reply = await ctx.complete(
            selection_messages(conversation(ctx.messages), ctx.system_prompt, texts),
            temperature=config.comparison_temperature,
            max_tokens=config.comparison_max_tokens,
        )
        index = parse_choice(reply.text, len(texts))
        if index is None:
            ctx.log.info("genselect: unreadable selection among %d candidates", len(texts))
            return texts[fallback_index(texts, ctx.query)], ""
        return texts[index], reply.text

    async def _tournament(self, ctx: RequestContext, texts: Sequence[str]) -> tuple[str, str]:
        """Knockout matches of two, each round's matches concurrently; an odd one out passes
        to the next round unopposed. Returns the champion and the final match's reasoning."""
        field = list(texts)
        reasoning = ""
        while len(field) > 1:
            pairs = [field[i : i + 2] for i in range(0, len(field) - 1, 2)]
            bye = field[-1:] if len(field) % 2 else []
            results = await gather(*(functools.partial(self._select, ctx, p) for p in pairs))
            field = [winner for winner, _ in results] + bye
            reasoning = results[-1][1] if len(results) == 1 else ""
        return field[0], reasoning


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``genselect``."""
    register(GenSelect())
