"""Concurrent rollouts on one shared tree, with a stub step writer (no upstream): the tree stays
consistent however the steps interleave, and the selection follows UCT."""

from __future__ import annotations

import random

import anyio
import pytest

from optillm_core import Budget
from optillm_rstar.actions import ACTIONS, COMPLETE, REPHRASE, actions_at
from optillm_rstar.search import Rollouts
from optillm_rstar.tree import Node


def all_nodes(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


class StubWriter:
    """Writes steps after a random short delay; ``finals`` maps (depth, action) to a final
    answer with full confidence."""

    def __init__(self, seed: int, finals: set[tuple[int, str]] = frozenset()) -> None:
        self.rng = random.Random(seed)
        self.finals = finals
        self.written: list[Node] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, node: Node) -> None:
        assert node.pending
        assert node.parent is not None
        assert not node.parent.pending, "a step was written before its parent's text arrived"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.rng.uniform(0.0, 0.01))
        finally:
            self.in_flight -= 1
        self.written.append(node)
        node.text = f"{node.action}@{node.depth}"
        if (node.depth, node.action) in self.finals:
            node.final, node.answer, node.confidence = True, "7", 1.0
        else:
            node.confidence = 0.5 if node.depth % 2 else 0.0


def rollouts(writer: StubWriter, seed: int = 0, **options: object) -> object:
    from optillm_rstar.search import Rollouts

    settings = {"max_depth": 3, "num_rollouts": 5, "c": 1.4, "parallel": 0}
    settings.update(options)
    return Rollouts(
        writer,
        rng=random.Random(seed),
        budget=Budget(),
        **settings,  # type: ignore[arg-type]
    )


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(6))
async def test_concurrent_rollouts_keep_the_tree_consistent(seed: int) -> None:
    writer = StubWriter(seed, finals={(2, COMPLETE)})
    search = rollouts(writer, seed, num_rollouts=24, parallel=0)
    root = await search.run()
    nodes = all_nodes(root)
    assert root.visits == 24
    assert sorted(map(id, writer.written)) == sorted(id(n) for n in nodes if n is not root)
    for node in nodes:
        assert not node.pending
        assert node.depth <= 3
        actions = [child.action for child in node.children]
        assert len(actions) == len(set(actions)) <= len(actions_at(node.depth))
        assert node.depth == 0 or REPHRASE not in actions
        assert sum(child.visits for child in node.children) <= node.visits
        for child in node.children:
            assert child.depth == node.depth + 1
            assert child.parent is node
    # Every rollout's reward was added exactly once along its path: the root's value is the
    # sum of the rewards of the rollouts, each at most 1.
    assert 0.0 <= root.value <= 24
    assert writer.max_in_flight > 1  # the rollouts really overlapped


@pytest.mark.anyio
async def test_all_concurrent_rollouts_take_distinct_root_actions() -> None:
    writer = StubWriter(1)
    root = await rollouts(writer, num_rollouts=5).run()
    assert sorted(child.action for child in root.children) == sorted(ACTIONS)
    assert all(child.visits == 1 for child in root.children)
    assert len(writer.written) == 5 * 3  # each rollout simulated down to max_depth
    assert writer.max_in_flight == 5


@pytest.mark.anyio
async def test_sequential_rollouts_exploit_the_rewarding_branch() -> None:
    writer = StubWriter(2, finals={(1, COMPLETE)})
    search = rollouts(writer, num_rollouts=9, parallel=1, c=0.1, max_depth=2)
    root = await search.run()
    best = next(child for child in root.children if child.action == COMPLETE)
    assert best.final and best.children == []
    # Rollouts 1-5 try every root action once; the four after that all pick ``complete``,
    # a terminal node worth 1.0, and re-score it without any new call.
    assert best.visits == 5
    assert writer.max_in_flight == 1
    assert len(writer.written) == 1 + 4 * 2


@pytest.mark.anyio
async def test_the_budget_stops_new_steps() -> None:
    writer = StubWriter(3)
    budget = Budget(max_calls=7)

    async def counting(node: Node) -> None:
        budget.reserve(1)  # what ctx.complete does before its upstream call
        await writer(node)

    search = Rollouts(
        counting,
        max_depth=3,
        num_rollouts=5,
        c=1.4,
        parallel=0,
        rng=random.Random(0),
        budget=budget,
    )
    root = await search.run()
    assert len(writer.written) == 7
    assert root.visits == 5
