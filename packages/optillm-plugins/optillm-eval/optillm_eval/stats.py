"""Per-approach statistics: accuracy with a Wilson 95 % interval, cost, latency percentiles, and
a paired comparison against a baseline approach on the same items (exact McNemar test)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .store import Record

Z95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(0, 1)`` for no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mcnemar_p(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value for ``wins`` vs ``losses`` discordant pairs."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / float(2**n)
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class ApproachStats:
    """The summary row of one approach.

    Means are per item. ``cost_usd`` is ``None`` unless prices were given. ``delta`` and
    ``p_value`` compare with the baseline on the items both have (``None`` for the baseline).
    """

    approach: str
    items: int
    correct: int
    errors: int
    accuracy: float
    ci_low: float
    ci_high: float
    mean_calls: float | None
    mean_prompt_tokens: float
    mean_completion_tokens: float
    p50_latency_s: float | None
    p95_latency_s: float | None
    cost_usd: float | None
    delta: float | None = None
    p_value: float | None = None

    @property
    def mean_total_tokens(self) -> float:
        """Mean prompt plus completion tokens per item."""
        return self.mean_prompt_tokens + self.mean_completion_tokens


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def approach_stats(
    approach: str,
    records: Sequence[Record],
    *,
    price_prompt: float | None = None,
    price_completion: float | None = None,
) -> ApproachStats:
    """Summarise one approach's records (prices in USD per million tokens)."""
    n = len(records)
    correct = sum(r.correct for r in records)
    low, high = wilson_interval(correct, n)
    prompt = sum(r.prompt_tokens for r in records)
    completion = sum(r.completion_tokens for r in records)
    cost = None
    if price_prompt is not None or price_completion is not None:
        cost = (prompt * (price_prompt or 0.0) + completion * (price_completion or 0.0)) / 1e6
    calls = [float(r.upstream_calls) for r in records if r.upstream_calls is not None]
    latencies = [r.latency_s for r in records]
    return ApproachStats(
        approach=approach,
        items=n,
        correct=correct,
        errors=sum(r.error is not None for r in records),
        accuracy=correct / n if n else 0.0,
        ci_low=low,
        ci_high=high,
        mean_calls=_mean(calls),
        mean_prompt_tokens=prompt / n if n else 0.0,
        mean_completion_tokens=completion / n if n else 0.0,
        p50_latency_s=percentile(latencies, 50),
        p95_latency_s=percentile(latencies, 95),
        cost_usd=cost,
    )


def summarize(
    by_approach: dict[str, list[Record]],
    *,
    baseline: str | None = None,
    price_prompt: float | None = None,
    price_completion: float | None = None,
) -> list[ApproachStats]:
    """One row per approach, in the given order, compared with ``baseline`` when present."""
    rows = [
        approach_stats(a, recs, price_prompt=price_prompt, price_completion=price_completion)
        for a, recs in by_approach.items()
    ]
    if baseline is None or baseline not in by_approach:
        return rows
    base = {r.item: r.correct for r in by_approach[baseline]}
    compared = []
    for row in rows:
        if row.approach == baseline:
            compared.append(row)
            continue
        pairs = [(r.correct, base[r.item]) for r in by_approach[row.approach] if r.item in base]
        wins = sum(a and not b for a, b in pairs)
        losses = sum(b and not a for a, b in pairs)
        delta = (wins - losses) / len(pairs) if pairs else None
        compared.append(
            replace(row, delta=delta, p_value=mcnemar_p(wins, losses) if pairs else None)
        )
    return compared
