"""Concurrent UCT rollouts of ``rstar`` on one shared tree, and the consistency checks.

A rollout:

1. **select**: from the root, while the node is fully expanded (every allowed action taken:
   five at the root, four below it, where ``rephrase`` is not allowed) and not
   terminal, move to the child with the best UCT score, waiting for a pending child's text;
2. **expand and simulate**: until a terminal node (final answer, dead end or ``max_depth``),
   take a random untried action at the current node and generate that step (one call);
3. **backpropagate** the last node's reward (its answer confidence) along the path.

Safety without locks: every read and write of the tree happens synchronously between two
awaits (asyncio runs one task at a time), and the only awaits are an upstream call for a node
the rollout itself claimed and waiting for a pending node's text. Claiming an action and
counting visits (virtual loss) happen before the call, so concurrent rollouts never take the
same action at a node and spread over untried and unrewarded branches. The budget check and
the call's reservation also happen in one synchronous stretch, so concurrent rollouts never
overdraw ``max_upstream_calls``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from optillm_core import Budget, RequestContext, gather, task_group

from .actions import actions_at, check_prompt, step_prompt, system_message
from .scoring import Candidate, agrees, read_step, split_point
from .tree import Node, backpropagate, select_child, visit


class StepWriter(Protocol):
    """Fills in a claimed node: its text, answer, confidence, or ``dead``."""

    async def __call__(self, node: Node) -> None:
        """Generate the step for ``node`` (its ``action`` and path are set)."""


@dataclass
class Solver:
    """The upstream calls of one request: reasoning steps and consistency checks."""

    ctx: RequestContext
    question: str
    user_system: str
    limit: dict[str, Any]
    temperature: float

    async def _ask(self, prompt: str) -> tuple[str, str]:
        completion = await self.ctx.complete(
            [system_message(self.user_system), {"role": "user", "content": prompt}],
            temperature=self.temperature,
            **self.limit,
        )
        return completion.text.strip(), completion.finish_reason

    async def write_step(self, node: Node) -> None:
        """Generate ``node``'s step; an empty or truncated reply makes it a dead end."""
        if node.action is None or node.parent is None:
            raise ValueError("the root is the question, not a step to write")
        previous = [step.text for step in node.parent.steps()]
        text, finish = await self._ask(step_prompt(node.action, self.question, previous))
        if not text or finish == "length":
            node.dead = True
            return
        reading = read_step(text, node.action, self.question)
        node.text = text
        node.answer, node.confidence, node.final = (
            reading.answer,
            reading.confidence,
            reading.final,
        )

    async def check(self, candidate: Candidate, shown: int) -> bool:
        """Mutual consistency: does finishing the first ``shown`` steps reach the same answer?"""
        assert candidate.answer is not None
        prefix = [node.text for node in candidate.steps[:shown]]
        text, finish = await self._ask(check_prompt(self.question, prefix))
        return agrees(candidate.answer, text, finish, self.question)


class Rollouts:
    """``num_rollouts`` UCT rollouts, ``parallel`` at a time (0: all at once), on one tree."""

    def __init__(
        self,
        write_step: StepWriter,
        *,
        max_depth: int,
        num_rollouts: int,
        c: float,
        parallel: int,
        rng: random.Random,
        budget: Budget,
    ) -> None:
        self.write_step = write_step
        self.max_depth = max_depth
        self.num_rollouts = num_rollouts
        self.c = c
        self.parallel = parallel or num_rollouts
        self.rng = rng
        self.budget = budget
        self.root = Node()
        self._ready: dict[Node, anyio.Event] = {}

    async def run(self) -> Node:
        """Run every rollout; return the root of the tree they grew."""
        limiter = anyio.CapacityLimiter(self.parallel)

        async def limited() -> None:
            async with limiter:
                await self.rollout()

        async with task_group() as tg:
            for _ in range(self.num_rollouts):
                tg.start_soon(limited)
        return self.root

    async def rollout(self) -> None:
        """One rollout: select, expand and simulate, backpropagate."""
        node = self.root
        visit(node)
        path = [node]
        while True:
            while node.pending:
                await self._ready[node].wait()
            if node.is_terminal(self.max_depth) or node.untried(actions_at(node.depth)):
                break
            node = select_child(node, self.c, self.rng)
            visit(node)
            path.append(node)
        while not node.is_terminal(self.max_depth) and self.budget.can_afford(1):
            node = node.add_child(self.rng.choice(node.untried(actions_at(node.depth))))
            visit(node)
            path.append(node)
            self._ready[node] = anyio.Event()
            try:
                await self.write_step(node)
            finally:
                node.pending = False
                self._ready.pop(node).set()
        backpropagate(path, 0.0 if node.dead else node.confidence)


async def check_all(
    solver: Solver, candidates: Sequence[Candidate], rng: random.Random, budget: Budget
) -> int:
    """Run the consistency checks of the answered candidates concurrently; return how many ran.

    When the call budget cannot pay for all of them, the candidates with the best leaf reward
    are checked first and the rest stay unchecked. Cut points are drawn before any call, so a
    seeded run is reproducible.
    """
    answered = [c for c in candidates if c.answer is not None]
    answered.sort(key=lambda c: (-c.leaf.mean, -c.confidence))
    calls_left, _ = budget.remaining()
    if calls_left is not None:
        answered = answered[: max(calls_left, 0)]
    if not answered or not budget.can_afford(len(answered)):
        return 0
    cuts = [split_point(len(c.steps), rng) for c in answered]
    results = await gather(
        *(functools.partial(solver.check, c, cut) for c, cut in zip(answered, cuts, strict=True))
    )
    for candidate, consistent in zip(answered, results, strict=True):
        candidate.consistent = consistent
    return len(answered)
