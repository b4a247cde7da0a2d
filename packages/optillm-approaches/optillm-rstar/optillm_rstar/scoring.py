"""Answers, rewards and the final choice of ``rstar``.

Answers are read with ``optillm_core.answers`` (boxed, "final answer is", fractions, decimals,
negatives, LaTeX) and compared with ``answers_equal``, so ``0.75``, ``3/4`` and
``\\frac{3}{4}`` agree. Numbers are never taken from the question: the root is not a step,
restatements of the question (``rephrase`` steps) are skipped, and the last-number fallback
ignores every value that occurs in the question.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from optillm_core.answers import answers_equal, extract_answer, find_answer

from .actions import REPHRASE
from .tree import Node

#: Reward of a step that states its final answer (boxed, or "the final answer is ...").
FINAL_CONFIDENCE = 1.0
#: Reward of a step with an answer found by weaker rules ("answer is", "= x", last number).
WEAK_CONFIDENCE = 0.5

_FINAL_PHRASE_RE = re.compile(r"final\s+answer", re.I)


@dataclass(frozen=True)
class StepReading:
    """What one step says about the answer."""

    answer: str | None
    confidence: float
    final: bool


def read_step(text: str, action: str | None, question: str) -> StepReading:
    """The answer a step states, how confidently, and whether it is final.

    Final: a ``\\boxed{}`` answer or a "final answer" phrase (confidence 1.0). Other answers
    (confidence 0.5) come from "the answer is", a trailing ``= x`` or the last number that does
    not occur in the question. Restatements of the question state nothing.
    """
    if action == REPHRASE or not text.strip():
        return StepReading(None, 0.0, False)
    found = find_answer(text, "math", question=question)
    if found is None:
        return StepReading(None, 0.0, False)
    final = found.source == "boxed" or (
        found.source == "phrase" and _FINAL_PHRASE_RE.search(text) is not None
    )
    return StepReading(found.answer, FINAL_CONFIDENCE if final else WEAK_CONFIDENCE, final)


def trajectory_answer(steps: Sequence[Node]) -> tuple[str | None, float]:
    """The answer of a trajectory and its confidence.

    The latest step with a final answer wins (a later re-examination overrides an earlier
    conclusion); else the weaker answer of the last step that is not a restatement; else none.
    """
    for node in reversed(steps):
        if node.final and node.answer is not None:
            return node.answer, node.confidence
    for node in reversed(steps):
        if node.action != REPHRASE:
            return node.answer, node.confidence if node.answer is not None else 0.0
    return None, 0.0


@dataclass
class Candidate:
    """One trajectory with its answer and the outcome of its consistency check.

    ``consistent`` is ``None`` while unchecked (no answer, or no budget left for the check).
    """

    steps: list[Node]
    answer: str | None
    confidence: float
    consistent: bool | None = None

    @classmethod
    def of(cls, steps: list[Node]) -> Candidate:
        """A candidate for the path ``steps``."""
        answer, confidence = trajectory_answer(steps)
        return cls(steps, answer, confidence)

    @property
    def leaf(self) -> Node:
        """The last step."""
        return self.steps[-1]


def split_point(length: int, rng: random.Random) -> int:
    """How many steps of a ``length``-step trajectory a consistency check is shown.

    A random cut that keeps at least one step and hides at least one (none shown for a single
    step: the check then solves the question independently).
    """
    return rng.randint(1, length - 1) if length > 1 else 0


def agrees(answer: str, text: str, finish_reason: str, question: str) -> bool:
    """Whether a check's completion ends in the same answer (a truncated one never does)."""
    if finish_reason == "length":
        return False
    other = extract_answer(text, "math", question=question)
    return other is not None and answers_equal(answer, other)


def _group_score(group: list[Candidate]) -> tuple[int, int, float, float]:
    return (
        sum(1 for c in group if c.consistent),
        len(group),
        max(c.leaf.mean for c in group),
        max(c.confidence for c in group),
    )


def choose(candidates: Sequence[Candidate]) -> Candidate | None:
    """The trajectory to answer with.

    Trajectories are grouped by equivalent answers; the group with the most consistent
    trajectories wins, then the larger group (a vote), then the higher leaf reward and
    confidence. Inside the group: consistent first, then confidence, then leaf reward; earlier
    trajectories win ties. Without any answer: the trajectory with the best leaf reward, then
    the deepest. ``None`` when there are no candidates.
    """
    answered = [c for c in candidates if c.answer is not None]
    if not answered:
        if not candidates:
            return None
        return max(candidates, key=lambda c: (c.leaf.mean, len(c.steps)))
    groups: list[list[Candidate]] = []
    for candidate in answered:
        assert candidate.answer is not None
        for group in groups:
            if answers_equal(group[0].answer or "", candidate.answer):
                group.append(candidate)
                break
        else:
            groups.append([candidate])
    best_group = max(groups, key=_group_score)
    return max(best_group, key=lambda c: (bool(c.consistent), c.confidence, c.leaf.mean))


def explanation(candidate: Candidate) -> str:
    """The trajectory's steps as one text that ends in its final answer."""
    body = "\n\n".join(node.text.strip() for node in candidate.steps if node.text.strip())
    if candidate.answer is None:
        return body
    last = candidate.leaf
    if last.final and last.answer is not None and answers_equal(last.answer, candidate.answer):
        return body
    return f"{body}\n\nThe final answer is $\\boxed{{{candidate.answer}}}$."
