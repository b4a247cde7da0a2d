"""The ``self_consistency`` approach: sample several answers, return the majority answer.

Technique: self-consistency decoding. Sample diverse reasoning paths at a high temperature,
read each one's final answer and return the most frequent. Paper: Wang et al.,
"Self-Consistency Improves Chain of Thought Reasoning in Language Models" (ICLR 2023,
https://arxiv.org/abs/2203.11171).

One dependent round: every sample in one ``ctx.sample`` (one call with native ``n``, concurrent
calls otherwise). Samples vote with their extracted final answer
(``optillm_core.answers.answer_key``); samples with no extractable answer are grouped by
whole-text similarity (``difflib`` ratio), as the reference does for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.models import last_user_text
from optillm_core.prompting import conversation, generation_limit

from .clustering import Cluster, answer_keys, cluster, winner

#: Request fields passed on to the samples (the answer is one of them).
FORWARDED = ("stop", "response_format")


class SelfConsistencyConfig(BaseModel):
    """Parameters of ``self_consistency``."""

    model_config = ConfigDict(extra="forbid")

    samples: int = param(5, "Answers sampled and voted on.", ge=1, le=64)
    similarity_threshold: float = param(
        0.8,
        "difflib ratio at which two samples without an extractable answer count as the same.",
        ge=0.0,
        le=1.0,
    )
    answer_kind: Literal["math", "mcq", "exact", "general", "text"] = param(
        "math",
        "How final answers are read (optillm_core.answers kinds); 'text' votes on whole-text "
        "similarity only, as the reference does.",
    )
    sample_temperature: float = param(1.0, "Temperature of the samples.", ge=0.0, le=2.0)
    default_max_tokens: int = param(
        4096,
        "Token limit of each sample when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


class SelfConsistency(Approach):
    """All samples in one round, clustered by final answer; the majority's first sample wins."""

    slug = "self_consistency"
    summary = "Self-consistency: sample several answers, return the majority final answer."
    paper = "https://arxiv.org/abs/2203.11171"
    Config = SelfConsistencyConfig
    features = frozenset({"images", "stop", "response_format"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Sample, vote, and return the first sample of the largest cluster."""
        config: SelfConsistencyConfig = ctx.config
        params = {
            **generation_limit(ctx, config.default_max_tokens),
            **ctx.request_params(FORWARDED),
        }
        sampled = await ctx.sample(
            config.samples,
            conversation(ctx.messages),
            temperature=config.sample_temperature,
            **params,
        )
        non_empty = [choice for choice in sampled if choice.text.strip()]
        if not non_empty:
            raise ApproachError(
                f"self_consistency: none of the {len(sampled)} samples had any content.",
                code="no_candidates",
            )
        voters = [choice for choice in non_empty if choice.finish_reason != "length"]
        if not voters:
            ctx.log.warning("self_consistency: every sample was cut off; first one returned")
            return ApproachResult(choices=[non_empty[0]])
        texts = [choice.text for choice in voters]
        # The question lets the last-number fallback skip numbers merely restated from it.
        keys = answer_keys(texts, config.answer_kind, question=last_user_text(ctx.messages))
        groups = await self._cluster(texts, keys, config.similarity_threshold)
        best = winner(groups)
        ctx.log.debug(
            "self_consistency: %d clusters, winner %r with %d of %d votes",
            len(groups),
            best.key,
            len(best.members),
            len(voters),
        )
        return ApproachResult(choices=[voters[best.representative]])

    @staticmethod
    async def _cluster(texts: list[str], keys: list[str | None], threshold: float) -> list[Cluster]:
        """Cluster in a worker thread when whole-text similarity is needed (it is quadratic)."""
        if all(key is not None for key in keys):
            return cluster(texts, keys, threshold)
        return await anyio.to_thread.run_sync(cluster, texts, keys, threshold)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``self_consistency``."""
    register(SelfConsistency())
