"""The ``pvg`` approach: an inference-time prover-verifier game.

Technique: prover-verifier games for legibility, played at inference time. Each round a
helpful prover and a sneaky prover (one that hides a subtle mistake) each write several
solutions, a verifier scores every solution from 0 to 10, and between rounds the problem
statement is rewritten in the light of the best solution (and the most convincing flawed one).
The best verified helpful solution over all rounds is the answer. Paper: Kirchner et al.,
"Prover-Verifier Games improve legibility of LLM outputs", 2024,
https://arxiv.org/abs/2407.13692.

Dependent rounds per game round: the helpful and sneaky generations together (one
``ctx.sample`` each, concurrently), then every verification concurrently; one rewrite call
between rounds. Defaults (2 rounds): 5 dependent rounds, 17 upstream calls with native ``n``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

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
from optillm_core.prompting import generation_limit, is_complete

from .prompts import Role, prover_messages, rewrite_messages, verifier_messages
from .scoring import Verified, better, parse_score

ROLES: tuple[Role, Role] = ("helpful", "sneaky")


class PvgConfig(BaseModel):
    """Parameters of ``pvg``."""

    model_config = ConfigDict(extra="forbid")

    num_rounds: int = param(2, "Rounds of the game.", ge=1, le=8)
    num_solutions: int = param(3, "Solutions per prover role and round.", ge=1, le=16)
    sneaky_can_win: bool = param(
        False,
        "Let a sneaky (deliberately flawed) solution be the answer when it scores highest, "
        "as the reference does.",
    )
    verify_temperature: float = param(0.2, "Temperature of the verifier.", ge=0.0, le=2.0)
    verify_max_tokens: int = param(1024, "Token limit of each verification.", ge=1)
    rewrite_temperature: float = param(
        0.5, "Temperature of the query rewrite between rounds.", ge=0.0, le=2.0
    )
    rewrite_max_tokens: int = param(
        1024, "Token limit of the rewrite (never above the solutions' limit).", ge=1
    )
    default_max_tokens: int = param(
        4096,
        "Token limit of each solution when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


def prover_temperature(round_index: int) -> float:
    """The provers' temperature in round ``round_index`` (from 0): 0.7, 0.6, ... down to 0.2."""
    return max(0.2, round(0.7 - 0.1 * round_index, 2))


class ProverVerifierGame(Approach):
    """The prover-verifier game: generate, verify, rewrite the query, repeat."""

    slug = "pvg"
    summary = "Prover-verifier game: helpful and sneaky solutions, verifier scores, best wins."
    paper = "https://arxiv.org/abs/2407.13692"
    Config = PvgConfig

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Play the rounds; return the best verified solution (fallbacks documented)."""
        config: PvgConfig = ctx.config
        query = ctx.query
        best: Verified | None = None
        flawed: Verified | None = None
        history: list[Verified] = []
        for round_index in range(config.num_rounds):
            if round_index > 0:
                if best is not None and not ctx.budget.can_afford(1 + self._round_calls(ctx)):
                    ctx.log.warning("pvg: budget too small for round %d; stopping", round_index)
                    break
                query = await self._rewrite(ctx, query, best, flawed)
            verified = await self._round(ctx, query, round_index)
            history += verified
            for item in verified:
                eligible = item.role == "helpful" or config.sneaky_can_win
                if eligible and better(item, best):
                    best = item
                if item.role == "sneaky" and better(item, flawed):
                    flawed = item
            ctx.log.debug(
                "pvg round %d scores: %s",
                round_index,
                [(v.role, v.score) for v in verified],
            )
        return ApproachResult(choices=[self._answer(best, history)])

    def _round_calls(self, ctx: RequestContext) -> int:
        """Upstream calls one round makes at most (generations plus verifications)."""
        count: int = ctx.config.num_solutions
        native = count > 1 and ctx.upstream.capabilities.n
        return (2 if native else 2 * count) + 2 * count

    async def _round(self, ctx: RequestContext, query: str, round_index: int) -> list[Verified]:
        """Two dependent steps: both provers concurrently, then every verification."""
        config: PvgConfig = ctx.config
        params = {
            "temperature": prover_temperature(round_index),
            **generation_limit(ctx, config.default_max_tokens),
        }
        helpful, sneaky = await gather(
            *(
                functools.partial(
                    ctx.sample,
                    config.num_solutions,
                    prover_messages(ctx.system_prompt, query, role),
                    **params,
                )
                for role in ROLES
            )
        )
        solutions = [
            (choice, role)
            for role, group in zip(ROLES, (helpful, sneaky), strict=True)
            for choice in group
        ]
        checked = [(choice, role) for choice, role in solutions if is_complete(choice)]
        scores = await gather(
            *(functools.partial(self._verify, ctx, query, choice.text) for choice, _ in checked)
        )
        verified = [
            Verified(choice, score, round_index, role)
            for (choice, role), score in zip(checked, scores, strict=True)
        ]
        unchecked = [
            Verified(choice, None, round_index, role)
            for choice, role in solutions
            if not is_complete(choice)
        ]
        return verified + unchecked

    async def _verify(self, ctx: RequestContext, query: str, solution: str) -> float | None:
        """One verifier call; the score even from a reply cut by the limit (it comes first)."""
        config: PvgConfig = ctx.config
        reply = await ctx.complete(
            verifier_messages(query, solution),
            temperature=config.verify_temperature,
            max_tokens=config.verify_max_tokens,
        )
        return parse_score(reply.text)

    async def _rewrite(
        self, ctx: RequestContext, query: str, best: Verified | None, flawed: Verified | None
    ) -> str:
        """The rewritten query; the old one when there is nothing to learn from yet or the
        rewrite is empty or cut off by its token limit."""
        if best is None or best.score is None:
            return query
        config: PvgConfig = ctx.config
        limit = generation_limit(ctx, config.default_max_tokens)
        ceiling = min([config.rewrite_max_tokens, *limit.values()])
        reply = await ctx.complete(
            rewrite_messages(
                query,
                best.choice.text,
                best.score,
                flawed.choice.text if flawed else None,
                flawed.score if flawed else None,
            ),
            temperature=config.rewrite_temperature,
            max_tokens=ceiling,
        )
        rewritten = reply.text.strip()
        if not rewritten or reply.finish_reason == "length":
            ctx.log.info("pvg: unusable query rewrite; keeping the current query")
            return query
        return rewritten

    def _answer(self, best: Verified | None, history: Sequence[Verified]) -> Choice:
        """The best verified solution; without any readable score, the earliest complete
        helpful solution (round one's solutions answer the client's own question), else the
        earliest helpful solution with any text (cut by the limit, so marked ``length``)."""
        if best is not None:
            return best.choice
        helpful = [v.choice for v in history if v.role == "helpful" and v.choice.text.strip()]
        for choice in helpful:
            if is_complete(choice):
                return choice
        if helpful:
            return helpful[0]
        raise ApproachError("pvg: the provers returned no usable solution.", code="no_candidates")


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``pvg``."""
    register(ProverVerifierGame())
