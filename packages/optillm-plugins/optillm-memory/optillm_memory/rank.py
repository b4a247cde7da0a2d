"""Ranking notes against the question: Okapi BM25 in pure Python."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+")
_STOP = (
    "a an and are as at be but by did do does for from had has have how i in is it its of on "
    "or that the their this to was were what when where which who whom why will with you"
)
STOPWORDS = frozenset(_STOP.split(" "))


def tokens(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def bm25_scores(
    query: str, documents: Sequence[str], k1: float = 1.5, b: float = 0.75
) -> list[float]:
    """The BM25 score of each document for ``query``."""
    docs = [Counter(tokens(d)) for d in documents]
    if not docs:
        return []
    lengths = [sum(d.values()) for d in docs]
    average = (sum(lengths) / len(docs)) or 1.0
    frequency = Counter(term for d in docs for term in d)
    scores = []
    for doc, length in zip(docs, lengths, strict=True):
        score = 0.0
        for term in set(tokens(query)):
            tf = doc.get(term, 0)
            if not tf:
                continue
            df = frequency[term]
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average))
        scores.append(score)
    return scores


def top_notes(question: str, notes: Sequence[str], k: int) -> list[str]:
    """The ``k`` notes that best match ``question``, best first (ties keep reading order)."""
    scores = bm25_scores(question, notes)
    order = sorted(range(len(notes)), key=lambda i: (-scores[i], i))
    return [notes[i] for i in order[:k]]
