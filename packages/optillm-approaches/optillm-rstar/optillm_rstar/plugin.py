"""The ``rstar`` approach: rStar-style tree search with mutual consistency.

Technique: Qi et al., "Mutual Reasoning Makes Smaller LLMs Stronger Problem-Solvers" (rStar,
2024, https://arxiv.org/abs/2408.06195). UCT rollouts grow a tree of reasoning steps with five
human-like actions (propose a step, finish the reasoning, pose and answer a sub-question,
re-examine the last step, rephrase the question); then every trajectory is checked for mutual
consistency (the model finishes a random prefix of it; consistent when it reaches the same
answer), and the best-supported answer is returned with its reasoning.

Differences from the reference (optillm 0.4.0): rollouts share the tree safely (virtual loss,
synchronous bookkeeping) instead of racing on it; consistency means the same *answer*, not 70 %
word overlap, and all checks run concurrently; answers are any math answer (fractions,
decimals, negatives, ``\\boxed{}``), never a number lifted from the question; the reply is the
reasoning ending in the answer (``bare_answer`` restores the reference's bare answer); the
client's system prompt is kept; the request's call budget and ``seed`` are honoured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import (
    Approach,
    ApproachError,
    ApproachResult,
    BudgetExceededError,
    RequestContext,
    hookimpl,
    param,
)
from optillm_core.prompting import generation_limit

from .scoring import Candidate, choose, explanation
from .search import Rollouts, Solver, check_all
from .tree import trajectories


class RstarConfig(BaseModel):
    """Parameters of ``rstar``."""

    model_config = ConfigDict(extra="forbid")

    max_depth: int = param(
        3,
        "Most reasoning steps in one trajectory.",
        aliases=["rstar_max_depth"],
        flags=["--rstar_max_depth"],
        ge=1,
        le=12,
    )
    num_rollouts: int = param(
        5,
        "UCT rollouts over the shared tree.",
        aliases=["rstar_num_rollouts"],
        flags=["--rstar_num_rollouts"],
        ge=1,
        le=64,
    )
    c: float = param(
        1.4,
        "UCT exploration constant.",
        aliases=["rstar_c"],
        flags=["--rstar_c"],
        ge=0.0,
        le=100.0,
    )
    parallel_rollouts: int = param(0, "Rollouts running at once (0: all of them).", ge=0, le=64)
    bare_answer: bool = param(
        False,
        "Reply with the final answer alone (the reference's behaviour) instead of the "
        "reasoning that ends in it.",
    )
    step_temperature: float = param(
        0.2, "Temperature of the reasoning steps and checks.", ge=0.0, le=2.0
    )
    default_max_tokens: int = param(
        4096,
        "Token limit of each step when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


class Rstar(Approach):
    """rStar: UCT over reasoning actions, mutual-consistency checks, best-supported answer."""

    slug = "rstar"
    summary = (
        "rStar: UCT search over five reasoning actions, mutual-consistency checks of every "
        "trajectory, and the best-supported answer with its reasoning."
    )
    paper = "https://arxiv.org/abs/2408.06195"
    Config = RstarConfig
    features = frozenset({"seed"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Search, check every answered trajectory concurrently, answer with the best one."""
        config: RstarConfig = ctx.config
        question = ctx.query
        rng = ctx.rng()
        solver = Solver(
            ctx,
            question=question,
            user_system=ctx.system_prompt,
            limit=generation_limit(ctx, config.default_max_tokens),
            temperature=config.step_temperature,
        )
        search = Rollouts(
            solver.write_step,
            max_depth=config.max_depth,
            num_rollouts=config.num_rollouts,
            c=config.c,
            parallel=config.parallel_rollouts,
            rng=rng,
            budget=ctx.budget,
        )
        root = await search.run()
        candidates = [Candidate.of(steps) for steps in trajectories(root)]
        checked = await check_all(solver, candidates, rng, ctx.budget)
        best = choose(candidates)
        ctx.log.debug(
            "rstar: %d trajectories, %d checked, answers=%s, consistent=%s",
            len(candidates),
            checked,
            [c.answer for c in candidates],
            [c.consistent for c in candidates],
        )
        if best is None and not root.children:
            raise BudgetExceededError(
                "rstar: the request's budget has no room left for a single reasoning step."
            )
        if best is None:
            raise ApproachError(
                "rstar: every reasoning step came back empty or cut off by the token limit.",
                code="no_reasoning",
            )
        if config.bare_answer:
            if best.answer is None:
                raise ApproachError("rstar: no trajectory reached an answer.", code="no_answer")
            return ApproachResult.text(best.answer)
        return ApproachResult.text(explanation(best))


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``rstar``."""
    register(Rstar())
