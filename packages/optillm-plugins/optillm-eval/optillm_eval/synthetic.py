"""A synthetic benchmark with a known answer: arithmetic items, a noisy-oracle model, and the
accuracy that plurality voting over its samples should reach in theory.

Use it to check an evaluation setup end to end (``FakeUpstream(NoisyOracle(0.6))``): ``none``
should score about ``p`` and a voting approach with ``k`` samples about
``plurality_accuracy(p, k, wrong_values)``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from typing import Any

from .items import Item

_QUESTION_RE = re.compile(r"What is (\d+) ([+*]) (\d+)\?")
WRONG_OFFSETS = (1, -1, 10, -10, 2, -2, 100, -100)


def arithmetic_items(count: int, *, seed: int = 0) -> list[Item]:
    """``count`` distinct questions ``What is a + b?`` / ``What is a * b?`` with their answers."""
    rng = random.Random(seed)
    seen: set[tuple[int, str, int]] = set()
    items: list[Item] = []
    while len(items) < count:
        a, op, b = rng.randint(10, 999), rng.choice("+*"), rng.randint(10, 99)
        if (a, op, b) in seen:
            continue
        seen.add((a, op, b))
        value = a + b if op == "+" else a * b
        question = f"What is {a} {op} {b}?"
        items.append(Item(f"arith-{len(items)}", question, str(value), "math"))
    return items


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


class NoisyOracle:
    """A reply function for ``FakeUpstream``: right with probability ``p``, else one of
    ``wrong_values`` plausible wrong numbers (the answer plus a small offset), uniformly.

    Draws are seeded by ``seed``, the question, the request's ``temperature`` and ``n`` and a
    per-request-kind counter, so the same run draws the same answers whatever the scheduling
    order across items, and different approaches draw independently.
    """

    def __init__(self, p: float, *, seed: int = 0, wrong_values: int = 4) -> None:
        if not 0 <= p <= 1 or not 1 <= wrong_values <= len(WRONG_OFFSETS):
            raise ValueError("need 0 <= p <= 1 and 1 <= wrong_values <= 8")
        self.p = p
        self.seed = seed
        self.offsets = WRONG_OFFSETS[:wrong_values]
        self._counters: dict[tuple[str, Any, Any], int] = {}

    def __call__(self, body: dict[str, Any]) -> str:
        """One sampled reply to ``body``."""
        text = _last_user(body)
        match = _QUESTION_RE.search(text)
        if match is None:
            return "I cannot tell."
        a, op, b = int(match[1]), match[2], int(match[3])
        right = a + b if op == "+" else a * b
        key = (match[0], body.get("temperature"), body.get("n"))
        count = self._counters.get(key, 0)
        self._counters[key] = count + 1
        rng = random.Random(f"{self.seed}|{key}|{count}")
        value = right if rng.random() < self.p else right + rng.choice(self.offsets)
        return f"Working it out: {a} {op} {b}.\nThe answer is \\boxed{{{value}}}."


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def plurality_accuracy(p: float, k: int, wrong_values: int = 1) -> float:
    """The probability that plurality voting over ``k`` samples picks the right answer.

    Each sample is right with probability ``p`` and otherwise one of ``wrong_values`` wrong
    answers, uniformly. Ties are broken toward the answer seen first (as ``majority_voting``
    and ``self_consistency`` do); among ``t`` answers tied at the top, each is seen first with
    probability ``1/t`` because the samples are exchangeable. With ``wrong_values=1`` this is
    the binomial majority.
    """
    q = (1 - p) / wrong_values
    total = 0.0
    for counts in _compositions(k, wrong_values + 1):
        right, wrong = counts[0], counts[1:]
        ways = math.factorial(k)
        for c in counts:
            ways //= math.factorial(c)
        chance = ways * p**right * q ** (k - right)
        top = max(wrong)
        if right > top:
            total += chance
        elif right == top and right > 0:
            total += chance / (1 + sum(1 for w in wrong if w == right))
    return total
