"""Grouping samples by their final answer, with whole-text similarity as the fallback.

The reference groups whole replies by character similarity, so long reasoning that reaches the
same answer in different words almost never agrees. Here a sample's vote is its extracted final
answer (``optillm_core.answers.answer_key``); only samples with no extractable answer are grouped
by ``difflib`` similarity, among themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from optillm_core.answers import answer_key

#: ``answer_kind`` value that turns extraction off (the reference's whole-text clustering).
TEXT_KIND = "text"


@dataclass
class Cluster:
    """Samples that agree: same answer ``key``, or (``key is None``) similar whole text."""

    key: str | None
    members: list[int] = field(default_factory=list)

    @property
    def representative(self) -> int:
        """The index of the cluster's first sample, whose text is the returned answer."""
        return self.members[0]


def _similar(a: str, b: str, threshold: float) -> bool:
    """Whether the ``difflib`` ratio of two texts reaches ``threshold`` (cheap bounds first)."""
    matcher = difflib.SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
        return False
    return matcher.ratio() >= threshold


def answer_keys(texts: Sequence[str], kind: str, question: str | None = None) -> list[str | None]:
    """Each sample's voting key (``None`` when no answer can be extracted, or for ``text``)."""
    if kind == TEXT_KIND:
        return [None] * len(texts)
    return [answer_key(text, kind, question=question) for text in texts]


def cluster(texts: Sequence[str], keys: Sequence[str | None], threshold: float) -> list[Cluster]:
    """Group samples greedily, in order.

    A sample with a key joins the cluster with the same key. A sample without one joins the
    first key-less cluster whose first sample is at least ``threshold`` similar to it. Otherwise
    it starts a new cluster. Clusters keep the order in which they were started.
    """
    clusters: list[Cluster] = []
    for i, (text, key) in enumerate(zip(texts, keys, strict=True)):
        home = next(
            (
                c
                for c in clusters
                if (c.key == key if key is not None else c.key is None)
                and (key is not None or _similar(texts[c.representative], text, threshold))
            ),
            None,
        )
        if home is None:
            home = Cluster(key)
            clusters.append(home)
        home.members.append(i)
    return clusters


def winner(clusters: Sequence[Cluster]) -> Cluster:
    """The largest cluster; the one started first wins ties."""
    return max(clusters, key=lambda c: len(c.members))  # max keeps the first of equal maxima
