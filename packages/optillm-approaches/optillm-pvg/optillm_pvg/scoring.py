"""Reading the verifier's score, and keeping the best verified solution across rounds.

The reference takes the first ``Score: N`` and counts a missing one as 0, so an unreadable
verdict ties with a real zero and ``Score: 85/100`` reads as 85. Here a score is read from
the common forms, scaled to 0-10 and clamped; an unreadable verdict is ``None`` and never
beats a real score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from optillm_core import Choice

from .prompts import Role

MIN_SCORE = 0.0
MAX_SCORE = 10.0

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_SCALE = r"(?:\s*(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?"
# "Score: 8", "Final score = 7/10", "> **Score:** 4 out of 5" (emphasis removed first).
_LABELLED_RE = re.compile(
    r"^[\s>#-]*(?:final\s+|overall\s+)?score\s*[:=]\s*" + _NUMBER + _SCALE, re.I | re.M
)
# "I give it a score of 6", "the score is 9/10".
_LOOSE_RE = re.compile(r"\bscore\b\s*(?:is|of|would\s+be)?\s*:?\s*" + _NUMBER + _SCALE, re.I)
# A bare "7/10" or "7 out of 10" anywhere.
_FRACTION_RE = re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*(10)(?!\d|\.\d)", re.I)


def parse_score(reply: str) -> float | None:
    """The verifier's 0-10 score, or ``None`` when the reply states none.

    Tried in order, the last match of each form winning: a ``Score:`` label at the start of
    a line (``Final score:`` too), then "score is/of N" anywhere, then a bare ``N/10``. A
    denominator (``/5``, ``out of 100``) rescales to 0-10; the result is clamped to 0-10.
    """
    text = reply.replace("*", "").replace("_", " ")
    for pattern in (_LABELLED_RE, _LOOSE_RE, _FRACTION_RE):
        found = pattern.findall(text)
        if found:
            value, scale = found[-1]
            return _scaled(float(value), float(scale) if scale else MAX_SCORE)
    return None


def _scaled(value: float, scale: float) -> float:
    if scale > 0:
        value = value * MAX_SCORE / scale
    return min(MAX_SCORE, max(MIN_SCORE, value))


@dataclass(frozen=True)
class Verified:
    """A solution with its verifier score, the round (from 0) and the prover role."""

    choice: Choice
    score: float | None
    round: int
    role: Role


def better(candidate: Verified, best: Verified | None) -> bool:
    """Whether ``candidate`` replaces ``best``: it has a score and beats ``best`` strictly
    (so the earliest of equal scores stays)."""
    if candidate.score is None:
        return False
    return best is None or best.score is None or candidate.score > best.score
