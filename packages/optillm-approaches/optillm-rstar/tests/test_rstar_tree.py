"""The reasoning tree on hand-built trees: UCT, selection, virtual loss, backpropagation and
trajectories."""

from __future__ import annotations

import math
import random

import pytest

from optillm_rstar.actions import ACTIONS, COMPLETE, PROPOSE_STEP, REPHRASE, SUB_QUESTION
from optillm_rstar.tree import Node, backpropagate, select_child, trajectories, uct, visit


def grow(parent: Node, action: str, visits: int = 0, value: float = 0.0, text: str = "") -> Node:
    node = parent.add_child(action)
    node.pending, node.visits, node.value, node.text = False, visits, value, text or action
    return node


def test_uct_formula_and_unvisited_nodes() -> None:
    root = Node(visits=10)
    fresh = grow(root, PROPOSE_STEP)
    seen = grow(root, COMPLETE, visits=4, value=3.0)
    assert uct(fresh, root.visits, 1.4) == math.inf
    assert uct(seen, root.visits, 1.4) == pytest.approx(0.75 + 1.4 * math.sqrt(math.log(10) / 4))
    assert uct(seen, root.visits, 0.0) == pytest.approx(0.75)


def test_selection_balances_reward_and_exploration() -> None:
    root = Node(visits=20)
    rich = grow(root, COMPLETE, visits=10, value=9.0)
    rare = grow(root, PROPOSE_STEP, visits=1, value=0.5)
    assert select_child(root, 0.0, random.Random(0)) is rich  # pure exploitation
    assert select_child(root, 1.4, random.Random(0)) is rare  # exploration bonus wins


def test_ties_are_broken_by_the_seeded_generator() -> None:
    root = Node(visits=3)
    kids = [grow(root, action) for action in ACTIONS[:3]]
    picks = {select_child(root, 1.4, random.Random(seed)).action for seed in range(40)}
    assert picks == {kid.action for kid in kids}
    assert select_child(root, 1.4, random.Random(9)) is select_child(root, 1.4, random.Random(9))


def test_virtual_loss_steers_the_next_selection_away() -> None:
    root = Node(visits=2)
    a = grow(root, COMPLETE, visits=1, value=1.0)
    b = grow(root, PROPOSE_STEP, visits=1, value=1.0)
    visit(root)
    visit(a)  # a rollout is under way below ``a``: counted, not yet rewarded
    assert select_child(root, 1.4, random.Random(0)) is b


def test_backpropagation_adds_the_reward_along_the_path_only() -> None:
    root = Node()
    a = grow(root, COMPLETE)
    b = grow(root, PROPOSE_STEP)
    deep = grow(a, SUB_QUESTION)
    path = [root, a, deep]
    for node in path:
        visit(node)
    backpropagate(path, 0.5)
    assert [(n.visits, n.value) for n in path] == [(1, 0.5), (1, 0.5), (1, 0.5)]
    assert (b.visits, b.value) == (0, 0.0)


def test_an_action_is_taken_once_per_node() -> None:
    root = Node()
    root.add_child(REPHRASE)
    assert REPHRASE not in root.untried(ACTIONS)
    assert len(root.untried(ACTIONS)) == len(ACTIONS) - 1
    with pytest.raises(ValueError, match="already taken"):
        root.add_child(REPHRASE)


def test_terminal_nodes() -> None:
    root = Node()
    step = grow(root, PROPOSE_STEP)
    assert not step.is_terminal(3)
    assert step.is_terminal(1)  # depth limit
    step.final = True
    assert step.is_terminal(3)
    dead = grow(root, COMPLETE)
    dead.dead = True
    assert dead.is_terminal(3)


def test_trajectories_end_at_live_leaves() -> None:
    root = Node()
    a = grow(root, REPHRASE)
    a1 = grow(a, PROPOSE_STEP)
    a2 = grow(a, COMPLETE)
    b = grow(root, SUB_QUESTION)
    dead = grow(b, COMPLETE)
    dead.dead = True
    c = grow(root, COMPLETE)
    c.dead = True
    assert trajectories(root) == [[a, a1], [a, a2], [b]]
    assert a2.steps() == [a, a2]
    assert trajectories(Node()) == []
