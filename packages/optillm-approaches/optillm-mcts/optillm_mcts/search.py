"""The simulation loop of ``mcts``: select, expand, roll out, evaluate, backpropagate.

One simulation, in dependent rounds:

1. **select** (no call): descend from the root by UCB to a node without children;
2. **expand** (2 rounds): ``k`` candidate replies in one round, then the ``k`` simulated user
   turns concurrently; the new children are attached and one is picked at random;
3. **roll out** (2 rounds per step, up to ``depth`` steps): one reply, then one simulated
   user turn, stopping early at a terminal state;
4. **evaluate** (1 round): the model scores the state reached, clamped to ``[0, 1]``;
5. **backpropagate** (no call): the score is added along the path to the root.

Simulations run one after another (each needs the statistics of the previous ones), so a
request takes at most ``simulations * (3 + 2 * depth)`` dependent rounds.

Budget: before each phase the search asks ``ctx.budget.can_afford`` for that phase's calls
and stops when they do not fit; the answer is then the best child found so far.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from optillm_core import ApproachError, Budget, gather
from optillm_core.models import Message

from .dialogue import Dialogue
from .tree import Node, backpropagate, is_terminal, select


@dataclass(frozen=True)
class SearchParams:
    """The knobs of one search."""

    simulations: int
    exploration: float
    depth: int
    actions: int
    native_n: bool = True

    @property
    def actions_cost(self) -> int:
        """Upstream calls of one round of candidate replies."""
        return 1 if self.native_n or self.actions == 1 else self.actions

    @property
    def expansion_cost(self) -> int:
        """Upstream calls of one expansion (at most): candidates plus one apply each."""
        return self.actions_cost + self.actions


class DialogueSearch:
    """Runs the simulations of one request on one tree."""

    def __init__(
        self, dialogue: Dialogue, params: SearchParams, rng: random.Random, budget: Budget
    ) -> None:
        self.dialogue = dialogue
        self.params = params
        self.rng = rng
        self.budget = budget

    async def run(self, root: Node) -> int:
        """Run up to ``params.simulations`` simulations; return how many completed."""
        done = 0
        for _ in range(self.params.simulations):
            if not await self.simulate(root):
                break
            done += 1
        return done

    async def simulate(self, root: Node) -> bool:
        """One simulation; ``False`` when the budget stopped it before its evaluation."""
        leaf = select(root, self.params.exploration, self.rng)
        node = leaf
        if not leaf.children and (leaf is root or not leaf.terminal):
            if not self.budget.can_afford(self.params.expansion_cost):
                return False
            children = await self.expand(leaf)
            if not children:
                if leaf is root:
                    raise ApproachError(
                        "mcts: the upstream gave no usable reply to the conversation.",
                        code="no_candidates",
                    )
                leaf.terminal = True  # a dead end: nothing usable to say from here
            else:
                node = self.rng.choice(children)
        state = await self.rollout(node)
        if not self.budget.can_afford(1):
            return False
        backpropagate(node, await self.dialogue.evaluate(state))
        return True

    async def expand(self, leaf: Node) -> list[Node]:
        """Attach one child per usable candidate reply; the applies run concurrently."""
        replies = await self.dialogue.actions(leaf.messages, self.params.actions)
        states = await gather(
            *(functools.partial(self.dialogue.apply, leaf.messages, reply) for reply in replies)
        )
        return [leaf.add_child(state, reply) for state, reply in zip(states, replies, strict=True)]

    async def rollout(self, node: Node) -> list[Message]:
        """Simulate up to ``depth`` more exchanges from ``node``; return the state reached.

        The rollout's states are not added to the tree (only expansions grow it). It stops at
        a terminal state, at an unusable reply, or when the budget cannot pay for one more
        exchange plus the evaluation.
        """
        state = node.messages
        if node.terminal:
            return state
        for _ in range(self.params.depth):
            if is_terminal(state) or not self.budget.can_afford(3):
                break
            reply = await self.dialogue.action(state)
            if reply is None:
                break
            state = await self.dialogue.apply(state, reply)
        return state
