"""Writing the results: a Markdown and a CSV table, and a PNG chart of accuracy against tokens.

matplotlib is imported only when the chart is drawn, with the Agg canvas (no display needed).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from .stats import ApproachStats

MARKDOWN = "summary.md"
CSV = "summary.csv"
CHART = "accuracy_vs_tokens.png"

CSV_COLUMNS = [
    "approach",
    "items",
    "correct",
    "errors",
    "accuracy",
    "ci95_low",
    "ci95_high",
    "delta_vs_baseline",
    "p_value",
    "mean_upstream_calls",
    "mean_prompt_tokens",
    "mean_completion_tokens",
    "p50_latency_s",
    "p95_latency_s",
    "cost_usd",
    "cost_per_item_usd",
]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f} pp"


def markdown_table(rows: Sequence[ApproachStats], *, baseline: str | None = None) -> str:
    """The summary as a Markdown table (a cost column only when prices were given)."""
    priced = any(r.cost_usd is not None for r in rows)
    vs = f"vs {baseline}" if baseline else "vs baseline"
    head = ["approach", "accuracy", "95 % CI", "items", "errors", f"Δ {vs}", "p (McNemar)"]
    head += ["calls/item", "prompt tok/item", "completion tok/item", "p50 s", "p95 s"]
    if priced:
        head += ["cost $", "$/item"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            f"`{r.approach}`",
            _pct(r.accuracy),
            f"{100 * r.ci_low:.1f} - {_pct(r.ci_high)}",
            str(r.items),
            str(r.errors),
            _signed(r.delta),
            _p_value(r.p_value),
            _num(r.mean_calls, 2),
            _num(r.mean_prompt_tokens),
            _num(r.mean_completion_tokens),
            _num(r.p50_latency_s, 2),
            _num(r.p95_latency_s, 2),
        ]
        if priced:
            per_item = r.cost_usd / r.items if r.cost_usd is not None and r.items else None
            cells += [_num(r.cost_usd, 4), _num(per_item, 6)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_rows(rows: Sequence[ApproachStats]) -> list[dict[str, object]]:
    """The summary as CSV dicts (empty cells for unknown values)."""
    out = []
    for r in rows:
        per_item = r.cost_usd / r.items if r.cost_usd is not None and r.items else None
        values: list[object] = [
            r.approach,
            r.items,
            r.correct,
            r.errors,
            r.accuracy,
            r.ci_low,
            r.ci_high,
            r.delta,
            r.p_value,
            r.mean_calls,
            r.mean_prompt_tokens,
            r.mean_completion_tokens,
            r.p50_latency_s,
            r.p95_latency_s,
            r.cost_usd,
            per_item,
        ]
        out.append(
            {
                k: ("" if v is None else round(v, 6) if isinstance(v, float) else v)
                for k, v in zip(CSV_COLUMNS, values, strict=True)
            }
        )
    return out


def write_tables(
    rows: Sequence[ApproachStats],
    out_dir: Path | str,
    *,
    title: str = "optillm eval",
    notes: Sequence[str] = (),
    baseline: str | None = None,
) -> tuple[Path, Path]:
    """Write ``summary.md`` and ``summary.csv`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md_path, csv_path = out / MARKDOWN, out / CSV
    text = f"# {title}\n\n" + "".join(f"{note}  \n" for note in notes) + ("\n" if notes else "")
    md_path.write_text(text + markdown_table(rows, baseline=baseline), encoding="utf-8")
    with csv_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(rows))
    return md_path, csv_path


def write_chart(rows: Sequence[ApproachStats], path: Path | str, *, title: str = "") -> Path:
    """Draw accuracy (with its 95 % interval) against mean tokens per item, one point per
    approach, as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.8), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for r in rows:
        x = r.mean_total_tokens
        error = [[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]]
        axes.errorbar([x], [r.accuracy], yerr=error, fmt="o", capsize=4, label=r.approach)
        axes.annotate(r.approach, (x, r.accuracy), textcoords="offset points", xytext=(6, 6))
    xs = [r.mean_total_tokens for r in rows if r.mean_total_tokens > 0]
    if xs and max(xs) / min(xs) > 20:
        axes.set_xscale("log")
    else:
        axes.set_xlim(left=0, right=max(xs, default=1) * 1.25)
    axes.set_xlabel("mean tokens per item (prompt + completion, all upstream calls)")
    axes.set_ylabel("accuracy (95 % Wilson interval)")
    axes.set_ylim(0, 1.05)
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png")
    return target
