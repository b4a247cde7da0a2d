"""The reasoning tree of ``rstar``: step nodes, UCT selection, backpropagation, trajectories.

Pure data and arithmetic, no I/O. A node is one reasoning step (the text one action produced);
the root stands for the question and has no text. Each node has at most one child per action.

Concurrent rollouts share the tree through *virtual loss*: a rollout counts its visit on every
node as it passes (``visit``), and adds its reward only at the end (``backpropagate``), so the
rollouts that follow see those nodes as visited-but-unrewarded and spread out. A node created by
one rollout is *pending* until its text arrives; others wait for it before looking inside.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    """One reasoning step (compared by identity)."""

    action: str | None = None
    text: str = ""
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    depth: int = 0
    visits: int = 0
    value: float = 0.0
    answer: str | None = None
    confidence: float = 0.0
    final: bool = False
    pending: bool = False
    dead: bool = False

    @property
    def mean(self) -> float:
        """The average reward backed up through this node (0 before any visit)."""
        return self.value / self.visits if self.visits else 0.0

    def add_child(self, action: str) -> Node:
        """Claim ``action`` here: a new pending child one level deeper."""
        if any(child.action == action for child in self.children):
            raise ValueError(f"action {action!r} was already taken at this node")
        child = Node(action=action, parent=self, depth=self.depth + 1, pending=True)
        self.children.append(child)
        return child

    def untried(self, actions: Iterable[str]) -> list[str]:
        """The actions of ``actions`` that no child of this node has taken yet."""
        taken = {child.action for child in self.children}
        return [action for action in actions if action not in taken]

    def steps(self) -> list[Node]:
        """The nodes from the root's child down to this node (empty for the root)."""
        path: list[Node] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            path.append(node)
            node = node.parent
        return path[::-1]

    def is_terminal(self, max_depth: int) -> bool:
        """Whether no step may follow: a dead end, a final answer, or the depth limit."""
        return self.dead or self.final or self.depth >= max_depth


def uct(node: Node, parent_visits: int, c: float) -> float:
    """The UCT score ``mean + c * sqrt(ln(parent_visits) / visits)``; ``inf`` if unvisited."""
    if node.visits == 0:
        return math.inf
    return node.mean + c * math.sqrt(math.log(max(parent_visits, 1)) / node.visits)


def select_child(node: Node, c: float, rng: random.Random) -> Node:
    """The child of ``node`` with the highest UCT score; ties broken with ``rng``."""
    scores = [uct(child, node.visits, c) for child in node.children]
    top = max(scores)
    return rng.choice([child for child, s in zip(node.children, scores, strict=True) if s == top])


def visit(node: Node) -> None:
    """Count a rollout passing through ``node`` (its reward comes later: virtual loss)."""
    node.visits += 1


def backpropagate(path: Sequence[Node], reward: float) -> None:
    """Add a finished rollout's ``reward`` to every node it visited."""
    for node in path:
        node.value += reward


def trajectories(root: Node) -> list[list[Node]]:
    """Every root-to-end path (root excluded), in creation order.

    A path ends at a live node none of whose children is live (dead ends, the steps that came
    back empty or cut off, are left out).
    """
    found: list[list[Node]] = []

    def walk(node: Node) -> None:
        live = [child for child in node.children if not child.dead and not child.pending]
        if node.parent is not None and not live:
            found.append(node.steps())
        for child in live:
            walk(child)

    walk(root)
    return found
