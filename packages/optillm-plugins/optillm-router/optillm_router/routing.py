"""From the classifier's probabilities to the approach that runs: the most probable label that
is installed (and allowed), honours the request's features and may run on a routed request; the
labels passed over are reported.

Code-executing approaches (``z3``) never run on a routed request: the prompt picks the route, and
text in a prompt must not be able to switch on code execution (the same rule as for an
``<optillm_approach>`` tag; the core marks routed runs and such approaches refuse them)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optillm_core import ApproachError

from .config import LABELS, NOT_ROUTED


@dataclass(frozen=True)
class Skipped:
    """A label more probable than the one chosen, and why it was passed over."""

    label: str
    probability: float
    reason: str


@dataclass(frozen=True)
class Route:
    """The chosen approach, its probability, and the more probable labels passed over."""

    slug: str
    probability: float
    skipped: tuple[Skipped, ...] = ()

    @property
    def header(self) -> str:
        """The ``x-optillm-routed`` value, e.g. ``moa;p=0.83``."""
        return f"{self.slug};p={self.probability:.2f}"

    @property
    def detail(self) -> str:
        """The trace detail, e.g. ``bon p=0.12 (skipped z3 p=0.70: not installed)``."""
        text = f"{self.slug} p={self.probability:.2f}"
        if self.skipped:
            passed = ", ".join(f"{s.label} p={s.probability:.2f}: {s.reason}" for s in self.skipped)
            text += f" (skipped {passed})"
        return text


def ranked(probabilities: Sequence[float]) -> list[tuple[str, float]]:
    """``(label, probability)`` pairs, most probable first (ties keep the label order)."""
    if len(probabilities) != len(LABELS):
        raise ApproachError(
            f"router: the classifier gave {len(probabilities)} scores for {len(LABELS)} labels."
        )
    return sorted(zip(LABELS, probabilities, strict=True), key=lambda pair: -pair[1])


def choose(
    probabilities: Sequence[float], available: Mapping[str, Any], used: Collection[str]
) -> Route:
    """The most probable label in ``available``, not in :data:`NOT_ROUTED`, whose approach
    honours every feature in ``used`` (``none`` honours all: a route is found whenever it is
    available)."""
    skipped: list[Skipped] = []
    for label, probability in ranked(probabilities):
        approach = available.get(label)
        if approach is None:
            skipped.append(Skipped(label, probability, "not installed"))
            continue
        if label in NOT_ROUTED:
            skipped.append(Skipped(label, probability, NOT_ROUTED[label]))
            continue
        missing = sorted(set(used) - set(approach.features))
        if missing:
            skipped.append(Skipped(label, probability, f"does not support {', '.join(missing)}"))
            continue
        return Route(label, probability, tuple(skipped))
    raise ApproachError("router: none of the classifier's labels can run on this server.")
