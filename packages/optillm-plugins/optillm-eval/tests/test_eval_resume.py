"""Resuming: a re-run asks only for what the results file does not hold yet — after a
``--limit`` run, after a cancelled run, after a line cut short by a crash, after errors."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from optillm_core import build_engine
from optillm_core.testing import FakeUpstream, Fault, make_settings, upstream_for
from optillm_eval import EngineTarget, EvalOptions, EvalSummary, Item, evaluate
from optillm_eval.synthetic import NoisyOracle, arithmetic_items
from optillm_self_consistency import plugin as self_consistency

APPROACHES = ["none", "self_consistency"]
ITEMS = arithmetic_items(60, seed=3)


def target(fake: FakeUpstream, model: str = "fake-model") -> EngineTarget:
    engine, _ = build_engine(
        make_settings(), [self_consistency], autoload=False, upstream=upstream_for(fake)
    )
    return EngineTarget(engine, model)


async def run(
    fake: FakeUpstream, out: Path, items: list[Item] = ITEMS, **options: object
) -> EvalSummary:
    settings: dict[str, object] = {"concurrency": 4, "chart": False, **options}
    opts = EvalOptions(output=out, **settings)  # type: ignore[arg-type]
    return await evaluate(items, APPROACHES, target(fake), opts)


def lines(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.anyio
async def test_rerun_after_a_limited_run_asks_only_for_the_rest(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(0.6, seed=1))
    first = await run(fake, tmp_path, ITEMS[:25])
    assert (first.new_outcomes, first.reused_outcomes) == (50, 0)
    assert fake.call_count == 50
    before = {(r["item"], r["approach"]): r for r in lines(tmp_path)}

    fake.reset()
    second = await run(fake, tmp_path)
    assert (second.new_outcomes, second.reused_outcomes) == (70, 50)
    assert fake.call_count == 70
    asked = {body["messages"][-1]["content"].split("\n")[0] for body in fake.bodies}
    assert asked == {item.question for item in ITEMS[25:]}
    after = {(r["item"], r["approach"]): r for r in lines(tmp_path)}
    assert len(after) == 120 and all(after[key] == record for key, record in before.items())
    assert [r.items for r in second.rows] == [60, 60]

    fake.reset()
    third = await run(fake, tmp_path)
    assert (third.new_outcomes, fake.call_count) == (0, 0)
    assert third.rows == second.rows


@pytest.mark.anyio
async def test_rerun_after_a_cancelled_run_completes_it(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(0.6, seed=2), latency=0.005)
    seen = 0
    with anyio.CancelScope() as scope:

        def stop_after_k(record: object) -> None:
            nonlocal seen
            seen += 1
            if seen == 17:
                scope.cancel()  # like Ctrl-C in the middle of the run

        await run(fake, tmp_path, on_record=stop_after_k)
    assert scope.cancelled_caught
    stored = lines(tmp_path)  # every line on disk is a whole record
    assert 17 <= len(stored) < 120
    assert not (tmp_path / "summary.md").exists()

    fake.reset()
    resumed = await run(fake, tmp_path)
    assert resumed.reused_outcomes == len(stored)
    assert resumed.new_outcomes == fake.call_count == 120 - len(stored)
    assert [r.items for r in resumed.rows] == [60, 60]
    assert len({(r["item"], r["approach"]) for r in lines(tmp_path)}) == 120


@pytest.mark.anyio
async def test_a_line_cut_short_by_a_crash_is_asked_again(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(0.6))
    await run(fake, tmp_path, ITEMS[:10])
    results = tmp_path / "results.jsonl"
    text = results.read_text()
    results.write_text(text[: len(text) - 40])  # the last record lost its tail
    fake.reset()
    again = await run(fake, tmp_path, ITEMS[:10])
    assert (again.new_outcomes, again.reused_outcomes, fake.call_count) == (1, 19, 1)
    whole, broken = [], []
    for line in results.read_text().splitlines():
        try:
            whole.append(json.loads(line))
        except ValueError:
            broken.append(line)
    assert (len(whole), len(broken)) == (20, 1)  # the new record went on a line of its own


@pytest.mark.anyio
async def test_failed_requests_are_recorded_counted_and_retried(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(1.0))
    fake.fail_next(Fault(500, message="upstream fell over"), times=3)
    first = await run(fake, tmp_path, ITEMS[:10], concurrency=1)
    failed = [r for r in lines(tmp_path) if r["error"]]
    assert len(failed) == 3 and all("fell over" in str(r["error"]) for r in failed)
    assert sum(r.errors for r in first.rows) == 3
    assert sum(r.correct for r in first.rows) == 17  # errors count as wrong

    fake.reset()
    second = await run(fake, tmp_path, ITEMS[:10])
    assert (second.new_outcomes, fake.call_count) == (3, 3)
    assert [(r.errors, r.correct) for r in second.rows] == [(0, 10), (0, 10)]


@pytest.mark.anyio
async def test_changed_items_other_models_and_fresh_runs_are_asked_again(tmp_path: Path) -> None:
    fake = FakeUpstream(NoisyOracle(1.0))
    items = ITEMS[:5]
    await run(fake, tmp_path, items)
    changed = [*items[:4], Item(items[4].id, items[4].question, "-1", "math")]
    fake.reset()
    summary = await run(fake, tmp_path, changed)
    assert fake.call_count == 2  # the changed item, for both approaches
    assert [r.correct for r in summary.rows] == [4, 4]  # graded against the new answer

    fake.reset()
    other = await evaluate(
        items,
        APPROACHES,
        target(fake, "other-model"),
        EvalOptions(output=tmp_path, chart=False),
    )
    assert other.new_outcomes == fake.call_count == 10

    fake.reset()
    fresh = await run(fake, tmp_path, items, fresh=True)
    assert fresh.new_outcomes == fake.call_count == 10
    assert len(lines(tmp_path)) == 10
