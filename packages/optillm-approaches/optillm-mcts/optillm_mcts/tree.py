"""The search tree of ``mcts``: dialogue-state nodes, UCB selection and backpropagation.

Pure data and arithmetic, no I/O: every function here can be tested on a hand-built tree.

A node's *state* is a conversation that ends with a user turn; its *reply* is the assistant
message (the action) that led to it from its parent. The root's state is the client's
conversation and it has no reply. A node is expanded once, with all its children at a time,
so "has children" and "fully expanded" are the same thing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from optillm_core import Choice
from optillm_core.models import Message, message_text

#: A state whose history (the turns before its last user message) is longer than this is
#: terminal: the simulated conversation has run its course.
MAX_HISTORY_TURNS = 10
#: A state whose last user message contains this word (any case) is terminal.
FAREWELL = "goodbye"


@dataclass(eq=False)
class Node:
    """One dialogue state in the tree (compared by identity)."""

    messages: list[Message]
    reply: Choice | None = None
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value: float = 0.0
    terminal: bool = False

    @property
    def mean(self) -> float:
        """The average value backed up through this node (0 before any visit)."""
        return self.value / self.visits if self.visits else 0.0

    def add_child(self, messages: list[Message], reply: Choice) -> Node:
        """Attach the state reached by ``reply`` and return it (terminal rules applied)."""
        child = Node(messages=messages, reply=reply, parent=self, terminal=is_terminal(messages))
        self.children.append(child)
        return child


def is_terminal(messages: Sequence[Message]) -> bool:
    """Whether a dialogue state ends the conversation.

    Terminal: more than ``MAX_HISTORY_TURNS`` user/assistant turns before the last user
    message, or that last user message says "goodbye".
    """
    turns = [m for m in messages if m.get("role") in ("user", "assistant")]
    if not turns:
        return False
    history, last = turns[:-1], turns[-1]
    if len(history) > MAX_HISTORY_TURNS:
        return True
    return last.get("role") == "user" and FAREWELL in message_text(last).lower()


def ucb(node: Node, exploration: float) -> float:
    """The UCB1 score of ``node`` as seen from its parent.

    ``mean + exploration * sqrt(ln(parent.visits + 1) / visits)``; an unvisited node scores
    ``inf`` so every child is tried once before any is tried twice.
    """
    if node.visits == 0:
        return math.inf
    parent_visits = node.parent.visits if node.parent is not None else node.visits
    return node.mean + exploration * math.sqrt(math.log(parent_visits + 1) / node.visits)


def pick_best(nodes: Sequence[Node], score: Callable[[Node], float], rng: random.Random) -> Node:
    """The node with the highest ``score``; ties are broken with ``rng``."""
    scores = [score(node) for node in nodes]
    top = max(scores)
    return rng.choice([node for node, s in zip(nodes, scores, strict=True) if s == top])


def select(root: Node, exploration: float, rng: random.Random) -> Node:
    """Descend from ``root`` by UCB until a node without children (the leaf to expand).

    Unlike the reference, which only ever ranks the root's children, the descent is
    recursive: good branches get deeper, not just revisited.
    """
    node = root
    while node.children:
        node = pick_best(node.children, lambda child: ucb(child, exploration), rng)
    return node


def backpropagate(node: Node, value: float) -> None:
    """Count one visit with ``value`` on ``node`` and every ancestor up to the root."""
    current: Node | None = node
    while current is not None:
        current.visits += 1
        current.value += value
        current = current.parent


def best_child(root: Node) -> Node | None:
    """The root's most visited child; ties go to the higher mean, then to the first one.

    ``None`` when the root has no children.
    """
    best: Node | None = None
    for child in root.children:
        if best is None or (child.visits, child.mean) > (best.visits, best.mean):
            best = child
    return best
