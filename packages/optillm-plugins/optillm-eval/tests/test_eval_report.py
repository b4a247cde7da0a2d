"""Statistics, the Markdown/CSV tables, the chart and the progress line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from optillm_eval import Record, summarize, wilson_interval, write_chart, write_tables
from optillm_eval.progress import Progress
from optillm_eval.stats import mcnemar_p, percentile


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_wilson_without_trials_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_percentile_and_mcnemar() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 95) == pytest.approx(9.55)
    assert percentile([], 50) is None
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_p(4, 4) == 1.0
    assert mcnemar_p(0, 0) == 1.0


def record(item: int, approach: str, correct: bool, **fields: object) -> Record:
    values: dict[str, object] = {
        "item": f"i{item}",
        "approach": approach,
        "model": "m",
        "fingerprint": "f",
        "kind": "math",
        "correct": correct,
        "expected": "1",
        "extracted": "1",
        "response": "",
        "finish_reason": "stop",
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "upstream_calls": 1,
        "latency_s": 1.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def sample_rows() -> dict[str, list[Record]]:
    none = [record(i, "none", i < 5, latency_s=float(i)) for i in range(10)]
    moa = [
        record(i, "moa", i < 8, prompt_tokens=400, completion_tokens=300, upstream_calls=4)
        for i in range(9)
    ] + [record(9, "moa", False, error="UpstreamError: 502", upstream_calls=None)]
    return {"none": none, "moa": moa}


def test_summary_rows() -> None:
    none, moa = summarize(sample_rows(), baseline="none", price_prompt=1.0, price_completion=4.0)
    assert (none.accuracy, none.delta, none.p_value) == (0.5, None, None)
    assert none.p50_latency_s == pytest.approx(4.5)
    assert none.cost_usd == pytest.approx((1000 * 1 + 500 * 4) / 1e6)
    assert (moa.items, moa.correct, moa.errors) == (10, 8, 1)
    assert moa.mean_calls == 4  # the errored request with unknown calls is left out
    assert moa.mean_prompt_tokens == pytest.approx(9 * 400 / 10 + 100 / 10)
    assert moa.delta == pytest.approx(0.3)
    assert moa.p_value == pytest.approx(mcnemar_p(3, 0))


def test_tables_and_chart(tmp_path: Path) -> None:
    rows = summarize(sample_rows(), baseline="none", price_prompt=1.0, price_completion=4.0)
    md, table = write_tables(rows, tmp_path, title="T", notes=["10 items"], baseline="none")
    text = md.read_text()
    assert text.startswith("# T\n\n10 items")
    assert "| `moa` | 80.0 % | 49.0 - 94.3 % | 10 | 1 | +30.0 pp |" in text
    assert "cost $" in text and "Δ vs none" in text
    parsed = list(csv.DictReader(table.open()))
    assert [r["approach"] for r in parsed] == ["none", "moa"]
    assert float(parsed[1]["accuracy"]) == pytest.approx(0.8)
    assert float(parsed[1]["ci95_low"]) == pytest.approx(0.4902, abs=1e-4)
    assert parsed[0]["delta_vs_baseline"] == ""
    assert float(parsed[0]["cost_usd"]) == pytest.approx(0.003)

    chart = write_chart(rows, tmp_path / "chart.png", title="T")
    data = chart.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_tables_without_prices_have_no_cost_column(tmp_path: Path) -> None:
    md, table = write_tables(summarize(sample_rows()), tmp_path)
    assert "cost" not in md.read_text()
    assert next(iter(csv.DictReader(table.open())))["cost_usd"] == ""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_line_shows_counts_accuracy_tokens_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, ["none", "moa"], total=8, plain_interval=5.0, clock=clock)
    progress.resume([record(0, "none", True), record(0, "moa", True)])
    clock.now = 2.0
    progress.add(record(1, "none", False))
    clock.now = 4.0
    progress.add(record(1, "moa", True))
    line = progress.line()
    assert line.startswith("eval 4/8 [##########..........]")
    assert "none 50% moa 100%" in line
    assert "600 tok" in line
    assert "0.5/s" in line and "ETA 8s" in line
    assert out.getvalue().count("\n") == 1  # not a terminal: one line per interval
    progress.close()
    assert out.getvalue().count("\n") == 2
