"""Rating prompts and the parser that reads a score out of a judge's reply.

The reference reads a rating with ``float(reply)`` and counts anything else as 0, so
"Rating: 8/10" and "**8**/10" lose to a bare "3". :func:`parse_rating` reads the common forms
and :func:`best_index` picks the winner deterministically.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from optillm_core.models import Message

MIN_RATING = 0.0
MAX_RATING = 10.0

_NUMBER = r"(-?\d+(?:\.\d+)?)"
# "0-10", "0 to 10", "1-10" (any dash) describe the scale, not the rating.
_RANGE_RE = re.compile(r"\b[01]\s*(?:-|\u2013|\u2014|to)\s*10\b", re.I)
# "8/10", "8 / 10", "8 out of 10", "4/5", "85/100".
_FRACTION_RE = re.compile(_NUMBER + r"\s*(?:/|out\s+of)\s*(5|10|100)(?![\d.])", re.I)
# "Rating: 8", "score of 7.5", "I'd give it 8.5", "I would rate this response a 7".
_KEYWORD_RE = re.compile(
    r"\b(?:rating|score|grade|rated|rate\s+(?:it|this)|give\s+(?:it|this))\b"
    r"[^\d\n-]{0,24}?" + _NUMBER,
    re.I,
)
_LEADING_RE = re.compile(r"^\W*?" + _NUMBER + r"(?![\d/])")
_TRAILING_RE = re.compile(_NUMBER + r"\W*$")

RATING_INSTRUCTIONS = (
    "You are a careful, impartial judge. You will see a conversation and then one candidate "
    "reply written by an assistant. Judge how well that reply serves the user's last request: "
    "correctness first, then completeness, clarity and how well it follows the instructions "
    "it was given. Score it from 0 (useless or wrong) to 10 (excellent). Reply with the score "
    "as a single number and nothing else."
)
RATING_REQUEST = (
    "Score the assistant reply directly above from 0 to 10. Reply with the number only."
)


def rating_messages(turns: Sequence[Message], system_prompt: str, candidate: str) -> list[Message]:
    """The judge's conversation: instructions, the user's turns, the candidate, the request.

    The user's own system prompt is quoted inside the judge's instructions (the candidate
    had to follow it) instead of being sent as a second system message.
    """
    instructions = RATING_INSTRUCTIONS
    if system_prompt.strip():
        instructions += (
            "\n\nThe assistant was given these instructions:\n<instructions>\n"
            f"{system_prompt.strip()}\n</instructions>"
        )
    dialogue = [turn for turn in turns if turn.get("role") in ("user", "assistant")]
    return [
        {"role": "system", "content": instructions},
        *dialogue,
        {"role": "assistant", "content": candidate},
        {"role": "user", "content": RATING_REQUEST},
    ]


def _clamp(value: float) -> float:
    return min(MAX_RATING, max(MIN_RATING, value))


def parse_rating(reply: str, *, complete: bool = True) -> float | None:
    """Read a 0-10 score from a judge's reply; ``None`` when there is none.

    Tried in order, the last match of each form winning: a fraction of 5, 10 or 100
    ("8/10", "**8**/10", "4/5", "85/100", "8 out of 10"; scaled to 0-10); a number after
    "rating", "score", "grade", "rated", "rate it/this" or "give it/this" ("I'd give it 8.5");
    a number opening the reply ("8", "[[8]]", "9 - solid"); and, only when the reply was not
    cut off (``complete``), a number closing it ("... so overall, 7."). Markdown emphasis and
    scale descriptions such as "0-10" are ignored. The result is clamped to 0-10.
    """
    text = _RANGE_RE.sub(" ", reply.replace("*", "").replace("_", " ")).strip()
    if not text:
        return None
    fractions = _FRACTION_RE.findall(text)
    if fractions:
        value, scale = fractions[-1]
        return _clamp(float(value) * MAX_RATING / float(scale))
    keywords = _KEYWORD_RE.findall(text)
    if keywords:
        return _clamp(float(keywords[-1]))
    leading = _LEADING_RE.match(text)
    if leading:
        return _clamp(float(leading.group(1)))
    trailing = _TRAILING_RE.search(text) if complete else None
    if trailing:
        return _clamp(float(trailing.group(1)))
    return None


def best_index(ratings: Sequence[float | None]) -> int:
    """The index of the highest rating; the first one wins ties; ``None`` ranks lowest.

    When no rating could be read at all, the first candidate wins.
    """
    best = 0
    for i, rating in enumerate(ratings):
        current = ratings[best]
        if rating is not None and (current is None or rating > current):
            best = i
    return best
