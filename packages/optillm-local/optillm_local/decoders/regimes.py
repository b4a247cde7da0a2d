"""Entropy-decoding regimes (entropix-style): the pure decision logic, no torch.

Per step the next-token distribution's entropy H and varentropy V (both in bits) decide how the
token is chosen:

* H < 0.1 and V < 0.1 — the model is sure: **argmax**.
* H > 3 and V < 0.1 — uniformly unsure: insert a **clarification** (text from the tokenizer,
  once per sequence), else sample hotter.
* H < 5 and V > 5 — a few very different options: **explore** (hotter, wider top-k).
* H > 5 and V > 5 — lost: **high-uncertainty** sampling (temperature ≥ 2, tighter top-p).
* otherwise — **adaptive**: temperature, top-p, top-k and min-p follow the uncertainty; several
  candidates are drawn and the one the unadjusted model likes best is kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

LN2 = math.log(2.0)


class Regime(StrEnum):
    """How one token is chosen."""

    ARGMAX = "argmax"
    CLARIFY = "clarify"
    EXPLORE = "explore"
    HIGH_UNCERTAINTY = "high_uncertainty"
    ADAPTIVE = "adaptive"


@dataclass(frozen=True)
class Thresholds:
    """Entropy/varentropy boundaries of the regimes (bits)."""

    low_entropy: float = 0.1
    low_varentropy: float = 0.1
    clarify_entropy: float = 3.0
    high_entropy: float = 5.0
    high_varentropy: float = 5.0


@dataclass(frozen=True)
class Knobs:
    """Sampling settings for one token."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float


def entropy_varentropy(probs: Sequence[float]) -> tuple[float, float]:
    """Entropy and varentropy (bits) of a probability vector (zeros ignored)."""
    logs = [(p, math.log(p) / LN2) for p in probs if p > 0.0]
    entropy = -sum(p * lg for p, lg in logs)
    varentropy = sum(p * (lg + entropy) ** 2 for p, lg in logs)
    return entropy, varentropy


def classify(entropy: float, varentropy: float, t: Thresholds | None = None) -> Regime:
    """The regime for one step's metrics."""
    t = t or Thresholds()
    if entropy < t.low_entropy and varentropy < t.low_varentropy:
        return Regime.ARGMAX
    if entropy > t.clarify_entropy and varentropy < t.low_varentropy:
        return Regime.CLARIFY
    if entropy < t.high_entropy and varentropy > t.high_varentropy:
        return Regime.EXPLORE
    if entropy > t.high_entropy and varentropy > t.high_varentropy:
        return Regime.HIGH_UNCERTAINTY
    return Regime.ADAPTIVE


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def knobs_for(regime: Regime, entropy: float, varentropy: float, base: Knobs) -> Knobs:
    """Sampling settings of a sampling regime, derived from the request's ``base`` settings.

    ``CLARIFY`` here means the clarification was already used (or there is none): sample hotter.
    """
    if regime is Regime.CLARIFY:
        return Knobs(min(1.5, base.temperature * 1.3), base.top_p, base.top_k, base.min_p)
    if regime is Regime.EXPLORE:
        return Knobs(
            min(1.5, base.temperature * 1.2), base.top_p, min(100, base.top_k * 2), base.min_p
        )
    if regime is Regime.HIGH_UNCERTAINTY:
        return Knobs(
            max(2.0, base.temperature * 1.5), max(0.5, base.top_p - 0.2), base.top_k, base.min_p
        )
    uncertainty = _clamp((entropy + varentropy) / 10.0, 0.0, 1.0)
    return Knobs(
        temperature=_clamp(base.temperature * (1.0 + 0.3 * uncertainty), 0.1, 2.0),
        top_p=_clamp(base.top_p * (1.0 + 0.1 * uncertainty), 0.1, 1.0),
        top_k=int(_clamp(round(base.top_k * (1.0 + 0.5 * uncertainty)), 1, 100)),
        min_p=_clamp(base.min_p * (1.0 - 0.5 * uncertainty), 0.01, 0.5),
    )
