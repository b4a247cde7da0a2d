"""The eval measures what theory predicts: over a noisy-oracle upstream that is right with
probability p = 0.6 and otherwise says one of four plausible wrong numbers, ``none`` scores
about p and the voting approaches score the plurality-vote probability for their sample count
(ties going to the answer seen first, as both approaches break them)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from optillm_core import build_engine
from optillm_core.answers import majority
from optillm_core.testing import FakeUpstream, make_settings, upstream_for
from optillm_eval import EngineTarget, EvalOptions, evaluate
from optillm_eval.synthetic import NoisyOracle, arithmetic_items, plurality_accuracy
from optillm_majority_voting import plugin as majority_voting
from optillm_majority_voting.plugin import MajorityVotingConfig
from optillm_self_consistency import plugin as self_consistency
from optillm_self_consistency.plugin import SelfConsistencyConfig

P = 0.6
WRONG_VALUES = 4
ITEMS = 400
SEED = 0


def test_theory_basics() -> None:
    assert plurality_accuracy(P, 1, WRONG_VALUES) == pytest.approx(P)
    # one wrong value: binomial majority, 3 samples: p^3 + 3 p^2 (1-p)
    assert plurality_accuracy(P, 3, 1) == pytest.approx(P**3 + 3 * P**2 * (1 - P))
    # a tie 1-1 between right and wrong is won half of the time
    assert plurality_accuracy(P, 2, 1) == pytest.approx(P**2 + P * (1 - P))
    assert plurality_accuracy(1.0, 5, 4) == pytest.approx(1.0)


@pytest.mark.parametrize("k", [2, 5, 8])
def test_theory_matches_simulated_votes_with_the_shared_tie_break(k: int) -> None:
    """Simulate the vote with ``optillm_core.answers.majority`` itself (first seen wins ties)."""
    rng = random.Random(k)
    trials, wins = 40_000, 0
    for _ in range(trials):
        keys = ["right" if rng.random() < P else f"wrong{rng.randrange(WRONG_VALUES)}"]
        keys += [
            "right" if rng.random() < P else f"wrong{rng.randrange(WRONG_VALUES)}"
            for _ in range(k - 1)
        ]
        wins += majority(keys)[0] == "right"
    assert wins / trials == pytest.approx(plurality_accuracy(P, k, WRONG_VALUES), abs=0.01)


@pytest.mark.anyio
async def test_voting_raises_accuracy_by_the_predicted_amount(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(P, seed=SEED, wrong_values=WRONG_VALUES))
    engine, _ = build_engine(
        make_settings(),
        [self_consistency, majority_voting],
        autoload=False,
        upstream=upstream_for(fake),
    )
    samples = {
        "none": 1,
        "self_consistency": SelfConsistencyConfig().samples,
        "majority_voting": MajorityVotingConfig().k,
    }
    summary = await evaluate(
        arithmetic_items(ITEMS, seed=SEED),
        list(samples),
        EngineTarget(engine, "fake-model"),
        EvalOptions(output=tmp_path, concurrency=32, chart=False),
    )
    assert fake.call_count == ITEMS * len(samples)
    for approach, k in samples.items():
        row = summary.row(approach)
        expected = plurality_accuracy(P, k, WRONG_VALUES)
        assert (row.items, row.errors) == (ITEMS, 0)
        assert row.ci_low <= expected <= row.ci_high, (approach, row.accuracy, expected)
        assert row.mean_calls == 1  # every sample in one call with native n
        if k > 1:
            # the measurement is sharp enough to reject the single-wrong-value binomial theory
            naive = plurality_accuracy(P, k, 1)
            assert not row.ci_low <= naive <= row.ci_high, (approach, naive)
    none = summary.row("none")
    for voter in ("self_consistency", "majority_voting"):
        row = summary.row(voter)
        assert row.ci_low > none.ci_high
        assert row.delta == pytest.approx(row.accuracy - none.accuracy)
        assert row.p_value is not None and row.p_value < 1e-6
        # k samples of the same reply length: k times the completion tokens of one answer
        assert row.mean_completion_tokens == pytest.approx(
            samples[voter] * none.mean_completion_tokens
        )
