"""The ``mcts`` approach: Monte Carlo Tree Search over dialogue states.

Technique: a UCT-style search (Kocsis & Szepesvári, "Bandit based Monte-Carlo Planning",
ECML 2006; survey: Browne et al., "A Survey of Monte Carlo Tree Search Methods", 2012) whose
states are conversations. An action is a candidate assistant reply; applying it appends the
reply and a user turn predicted by the model; a state is scored by the model from 0 to 1.
After the simulations, the most visited first reply is the answer.

Differences from the reference (optillm 0.4.0): selection descends the whole tree by UCB (the
reference only ranks the root's children); the simulated user turns of one expansion run
concurrently; rollouts draw one reply instead of three (the same distribution, a third of the
tokens); scores are parsed robustly; the search respects the request's call budget; and
randomness comes from a per-request ``random.Random`` seeded by the body's ``seed``.
"""

from __future__ import annotations

from collections.abc import Callable
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
from optillm_core.prompting import conversation, generation_limit, usable_choices

from .dialogue import Dialogue
from .search import DialogueSearch, SearchParams
from .tree import Node, best_child


class MctsConfig(BaseModel):
    """Parameters of ``mcts``."""

    model_config = ConfigDict(extra="forbid")

    simulations: int = param(
        2,
        "Simulations (select, expand, roll out, evaluate) run one after another.",
        aliases=["mcts_simulations"],
        flags=["--simulations"],
        env=["OPTILLM_SIMULATIONS"],
        ge=1,
        le=64,
    )
    exploration: float = param(
        0.2,
        "UCB exploration weight.",
        aliases=["mcts_exploration"],
        flags=["--exploration"],
        env=["OPTILLM_EXPLORATION"],
        ge=0.0,
        le=100.0,
    )
    depth: int = param(
        1,
        "Simulated exchanges (reply + user turn) per rollout before the evaluation.",
        aliases=["mcts_depth"],
        flags=["--depth"],
        env=["OPTILLM_DEPTH"],
        ge=0,
        le=16,
    )
    num_actions: int = param(3, "Candidate replies per expansion.", ge=1, le=8)
    action_temperature: float = param(1.0, "Temperature of the candidate replies.", ge=0.0, le=2.0)
    default_max_tokens: int = param(
        4096,
        "Token limit of each reply when the request sets neither max_tokens nor "
        "max_completion_tokens (0: send no limit).",
        ge=0,
    )


class Mcts(Approach):
    """Dialogue-state MCTS: the most visited candidate reply after the simulations wins."""

    slug = "mcts"
    summary = (
        "Monte Carlo Tree Search over dialogue states: candidate replies, simulated user "
        "turns and model-scored conversations; the most visited reply wins."
    )
    paper = "https://doi.org/10.1007/11871842_29"
    Config = MctsConfig
    features = frozenset({"seed", "images"})

    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Search, then answer with the best first reply (a plain completion if the budget
        cannot pay for a single expansion)."""
        config: MctsConfig = ctx.config
        limit = generation_limit(ctx, config.default_max_tokens)
        dialogue = Dialogue(ctx, limit, config.action_temperature)
        params = SearchParams(
            simulations=config.simulations,
            exploration=config.exploration,
            depth=config.depth,
            actions=config.num_actions,
            native_n=ctx.upstream.capabilities.n,
        )
        root = Node(messages=conversation(ctx.messages))
        search = DialogueSearch(dialogue, params, ctx.rng(), ctx.budget)
        done = await search.run(root)
        best = best_child(root)
        if best is None or best.reply is None:
            ctx.log.warning("mcts: budget too small for one expansion; answering directly")
            return await self._direct(ctx, root, dialogue)
        ctx.log.debug(
            "mcts: %d simulations; root children visits=%s means=%s",
            done,
            [c.visits for c in root.children],
            [round(c.mean, 3) for c in root.children],
        )
        reply = best.reply
        return ApproachResult(
            choices=[Choice(reply.content, reply.finish_reason, extra=dict(reply.extra))]
        )

    async def _direct(self, ctx: RequestContext, root: Node, dialogue: Dialogue) -> ApproachResult:
        """One plain reply (raises the budget error when even that does not fit)."""
        completion = await ctx.complete(
            root.messages, temperature=dialogue.temperature, **dialogue.limit
        )
        found = usable_choices(completion.choices[:1])
        if not found:
            raise ApproachError("mcts: the upstream gave an empty reply.", code="no_candidates")
        return ApproachResult(choices=found)


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """Register ``mcts``."""
    register(Mcts())
