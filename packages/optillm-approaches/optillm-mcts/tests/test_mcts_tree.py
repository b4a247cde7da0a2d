"""The search tree on hand-built trees: UCB, recursive selection, backpropagation, the answer,
terminal states and score parsing."""

from __future__ import annotations

import math
import random

import pytest

from optillm_core import Choice
from optillm_mcts.dialogue import parse_score, transcript
from optillm_mcts.tree import Node, backpropagate, best_child, is_terminal, select, ucb


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def bot(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def child(parent: Node, name: str, visits: int = 0, value: float = 0.0) -> Node:
    node = parent.add_child([*parent.messages, bot(name), user("more")], Choice(name))
    node.visits, node.value = visits, value
    return node


def test_ucb_is_infinite_for_unvisited_and_follows_the_formula() -> None:
    root = Node([user("q")], visits=4)
    fresh = child(root, "fresh")
    seen = child(root, "seen", visits=2, value=1.5)
    assert ucb(fresh, 0.2) == math.inf
    assert ucb(seen, 0.2) == pytest.approx(0.75 + 0.2 * math.sqrt(math.log(5) / 2))
    assert ucb(seen, 0.0) == pytest.approx(0.75)


def test_selection_descends_below_the_roots_children() -> None:
    root = Node([user("q")], visits=4)
    strong = child(root, "strong", visits=3, value=2.7)
    child(root, "weak", visits=1, value=0.1)
    grand_a = child(strong, "a", visits=2, value=0.4)
    grand_b = child(strong, "b", visits=1, value=0.9)
    leaf = child(grand_b, "deep")  # unvisited: picked as soon as grand_b is reached
    chosen = select(root, exploration=0.2, rng=random.Random(0))
    assert chosen is leaf
    assert chosen.parent is grand_b and grand_b.parent is strong
    assert grand_a not in (chosen, chosen.parent)


def test_selection_tries_every_child_once_before_any_twice() -> None:
    root = Node([user("q")], visits=1)
    visited = child(root, "visited", visits=1, value=1.0)
    others = [child(root, "x"), child(root, "y")]
    for seed in range(10):
        assert select(root, 0.2, random.Random(seed)) in others
    assert select(root, 0.2, random.Random(0)) is not visited


def test_selection_breaks_ties_with_the_seeded_generator() -> None:
    root = Node([user("q")])
    kids = [child(root, str(i)) for i in range(3)]
    picks = {select(root, 0.2, random.Random(seed)).reply.content for seed in range(30)}
    assert picks == {"0", "1", "2"}
    assert select(root, 0.2, random.Random(5)) is select(root, 0.2, random.Random(5))
    assert all(k.children == [] for k in kids)


def test_backpropagation_updates_the_path_only() -> None:
    root = Node([user("q")])
    left, right = child(root, "l"), child(root, "r")
    deep = child(left, "d")
    backpropagate(deep, 0.8)
    backpropagate(right, 0.2)
    assert (deep.visits, deep.value) == (1, 0.8)
    assert (left.visits, left.value) == (1, 0.8)
    assert (right.visits, right.value) == (1, 0.2)
    assert (root.visits, root.value) == (2, pytest.approx(1.0))


def test_best_child_prefers_visits_then_mean_then_order() -> None:
    root = Node([user("q")])
    assert best_child(root) is None
    a = child(root, "a", visits=2, value=0.2)
    b = child(root, "b", visits=3, value=0.3)
    assert best_child(root) is b
    c = child(root, "c", visits=3, value=2.4)
    assert best_child(root) is c
    d = child(root, "d", visits=3, value=2.4)
    assert best_child(root) is c and d is not c and a is not c


def test_terminal_states() -> None:
    assert is_terminal([user("hi"), bot("hello"), user("Thanks, GOODBYE!")])
    assert not is_terminal([user("hi"), bot("goodbye to you"), user("why?")])
    long = [m for i in range(5) for m in (user(f"u{i}"), bot(f"a{i}"))]
    assert not is_terminal([*long, user("next")])  # exactly 10 turns of history
    assert is_terminal([*long, user("x"), bot("y"), user("next")])
    assert not is_terminal([{"role": "system", "content": "s"}, user("q")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.8", 0.8),
        ("  **0.75**  ", 0.75),
        ("Score: 0.3", 0.3),
        ("On a scale from 0 to 1, I would rate it 0.6.", 0.6),
        ("4/5", 0.8),
        ("8 out of 10", 0.8),
        ("85%", 0.85),
        ("7", 0.7),
        ("72", 0.72),
        ("1.7", 0.17),
        ("-0.4", 0.0),
        ("1", 1.0),
        ("<think>maybe 0.1</think>0.9", 0.9),
        ("3/0", 0.0),
    ],
)
def test_scores_are_parsed_and_clamped(text: str, expected: float) -> None:
    assert parse_score(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "I cannot rate this.", "<think>0.5</think>"])
def test_unreadable_scores_are_none(text: str) -> None:
    assert parse_score(text) is None


def test_transcript_labels_roles() -> None:
    text = transcript([{"role": "system", "content": "Be kind."}, user("hi"), bot("hello")])
    assert text == "System: Be kind.\n\nUser: hi\n\nAssistant: hello"
