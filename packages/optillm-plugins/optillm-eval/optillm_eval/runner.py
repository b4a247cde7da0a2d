"""Running an evaluation: every item through every approach, concurrently within a limit,
each outcome appended to the results file as soon as it is graded; then the reports.

Outcomes are scheduled item by item (all approaches of item 1, then of item 2, …), so an
interrupted run leaves the approaches compared on nearly the same items.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import anyio

from optillm_core.sandbox import Sandbox, SandboxError, SandboxLimits

from .errors import EvalError
from .grading import Grade, grade
from .items import CODE, Item
from .progress import Progress
from .prompts import messages_for
from .report import CHART, write_chart, write_tables
from .stats import ApproachStats, summarize
from .store import Record, ResultStore
from .targets import RequestFailed, Target, TargetReply

RESULTS = "results.jsonl"


@dataclass
class EvalOptions:
    """How to run and report an evaluation.

    ``params`` are sent with every request (``temperature``, ``max_tokens``, approach options
    such as ``{"optillm": {"moa": {...}}}``). ``timeout`` bounds one request in seconds.
    Prices are USD per million tokens. ``baseline`` defaults to ``none`` when it is evaluated,
    else the first approach. ``progress`` is the stream for the progress line (``None``: off).
    ``fresh`` discards stored outcomes. ``on_record`` sees every new outcome.
    """

    output: Path | str
    concurrency: int = 8
    params: dict[str, Any] = field(default_factory=dict)
    system: str = ""
    instructions: bool = True
    timeout: float | None = 600.0
    code_timeout: float = 10.0
    sandbox: Sandbox | None = None
    price_prompt: float | None = None
    price_completion: float | None = None
    baseline: str | None = None
    chart: bool = True
    store_responses: bool = True
    fresh: bool = False
    progress: TextIO | None = None
    title: str = "optillm eval"
    notes: Sequence[str] = ()
    on_record: Callable[[Record], None] | None = None


@dataclass(frozen=True)
class EvalSummary:
    """What an evaluation produced: the table rows and the files written."""

    rows: list[ApproachStats]
    results: Path
    markdown: Path
    csv: Path
    chart: Path | None
    new_outcomes: int
    reused_outcomes: int
    baseline: str | None

    def row(self, approach: str) -> ApproachStats:
        """The row of ``approach``."""
        return next(r for r in self.rows if r.approach == approach)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Runner:
    """Runs single outcomes: ask, time, grade, record."""

    def __init__(
        self, target: Target, store: ResultStore, options: EvalOptions, sandbox: Sandbox | None
    ) -> None:
        self.target = target
        self.store = store
        self.options = options
        self.sandbox = sandbox

    async def _ask(self, approach: str, item: Item) -> tuple[TargetReply | None, str | None, float]:
        options = self.options
        messages = messages_for(item, system=options.system, instructions=options.instructions)
        started = time.perf_counter()
        reply: TargetReply | None = None
        error: str | None = None
        try:
            with anyio.fail_after(options.timeout) if options.timeout else contextlib.nullcontext():
                reply = await self.target.ask(approach, messages, dict(options.params))
        except RequestFailed as exc:
            reply, error = exc.usage, str(exc)
        except TimeoutError:
            error = f"timed out after {options.timeout:g} s"
        return reply, error, time.perf_counter() - started

    async def _grade(self, item: Item, text: str) -> tuple[Grade, str | None]:
        try:
            verdict = await grade(
                item, text, sandbox=self.sandbox, code_timeout=self.options.code_timeout
            )
        except SandboxError as exc:
            return Grade(False, None), f"grading failed: {exc}"
        return verdict, None

    async def one(self, item: Item, approach: str) -> Record:
        """Evaluate ``item`` with ``approach`` and store the outcome."""
        reply, error, latency = await self._ask(approach, item)
        verdict = Grade(False, None)
        if error is None and reply is not None:
            verdict, error = await self._grade(item, reply.text)
        record = Record(
            item=item.id,
            approach=approach,
            model=self.target.model,
            fingerprint=item.fingerprint,
            kind=item.kind,
            correct=verdict.correct and error is None,
            expected=item.answer,
            extracted=verdict.extracted,
            response=reply.text if reply and self.options.store_responses else None,
            finish_reason=reply.finish_reason if reply else None,
            prompt_tokens=reply.prompt_tokens if reply else 0,
            completion_tokens=reply.completion_tokens if reply else 0,
            upstream_calls=reply.upstream_calls if reply else None,
            latency_s=round(latency, 4),
            error=error,
            detail=verdict.detail,
            time=_now(),
        )
        self.store.append(record)
        return record


async def run_jobs(
    jobs: Sequence[tuple[Item, str]],
    target: Target,
    store: ResultStore,
    options: EvalOptions,
    *,
    sandbox: Sandbox | None = None,
    progress: Progress | None = None,
) -> int:
    """Run ``jobs`` with at most ``options.concurrency`` requests in flight; returns how many
    outcomes were recorded. Cancelling stops the run; recorded outcomes stay on disk."""
    runner = _Runner(target, store, options, sandbox)
    queue: Iterator[tuple[Item, str]] = iter(jobs)
    finished = 0

    async def worker() -> None:
        nonlocal finished
        for item, approach in queue:  # workers share the iterator: each job runs once
            record = await runner.one(item, approach)
            finished += 1
            if progress is not None:
                progress.add(record)
            if options.on_record is not None:
                options.on_record(record)

    async with anyio.create_task_group() as tg:
        for _ in range(max(1, min(options.concurrency, len(jobs)))):
            tg.start_soon(worker)
    return finished


async def _sandbox_for(items: Sequence[Item], options: EvalOptions) -> Sandbox | None:
    if not any(item.kind == CODE for item in items):
        return None
    sandbox = options.sandbox or Sandbox(SandboxLimits(timeout=options.code_timeout))
    if not await sandbox.available():
        raise EvalError(
            "The dataset has code items, but the code sandbox cannot run here (it cannot cut "
            "programs off the network; see docs/security.md). Run where it can, or accept "
            "that with --sandbox-allow-no-network-isolation."
        )
    return sandbox


def _default_baseline(approaches: Sequence[str], baseline: str | None) -> str | None:
    if baseline is not None:
        if baseline not in approaches:
            raise EvalError(f"baseline {baseline!r} is not among the approaches")
        return baseline
    if "none" in approaches:
        return "none"
    return approaches[0] if approaches else None


def check_approaches(approaches: Sequence[str]) -> list[str]:
    """The approach list without blanks and duplicates; raises when it is empty."""
    seen: list[str] = []
    for approach in approaches:
        approach = approach.strip()
        if approach and approach not in seen:
            seen.append(approach)
    if not seen:
        raise EvalError("no approaches given")
    return seen


async def evaluate(
    items: Sequence[Item], approaches: Sequence[str], target: Target, options: EvalOptions
) -> EvalSummary:
    """Evaluate every item with every approach (resuming stored outcomes) and write
    ``results.jsonl``, ``summary.md``, ``summary.csv`` and the chart into ``options.output``.

    Raises:
        EvalError: an approach cannot run on ``target``, or code items cannot be sandboxed.
    """
    approaches = check_approaches(approaches)
    baseline = _default_baseline(approaches, options.baseline)
    out = Path(options.output)
    results = out / RESULTS
    if options.fresh and results.exists():
        results.unlink()
    await target.check_approaches(approaches)
    sandbox = await _sandbox_for(items, options)
    model = target.model
    with ResultStore(results) as store:
        pending: list[tuple[Item, str]] = []
        stored: list[Record] = []
        for item in items:
            for approach in approaches:
                record = store.get(item.id, approach, model)
                if record is not None and store.is_done(item.id, approach, model, item.fingerprint):
                    stored.append(record)
                else:
                    pending.append((item, approach))
        progress = Progress(options.progress, approaches, len(items) * len(approaches))
        progress.resume(stored)
        try:
            new = await run_jobs(
                pending, target, store, options, sandbox=sandbox, progress=progress
            )
        finally:
            progress.close()
        by_approach = {
            a: [
                r
                for item in items
                if (r := store.get(item.id, a, model)) is not None
                and r.fingerprint == item.fingerprint
            ]
            for a in approaches
        }
    rows = summarize(
        by_approach,
        baseline=baseline,
        price_prompt=options.price_prompt,
        price_completion=options.price_completion,
    )
    markdown, csv_path = await anyio.to_thread.run_sync(
        functools.partial(
            write_tables, rows, out, title=options.title, notes=options.notes, baseline=baseline
        )
    )
    chart = None
    if options.chart:
        draw = functools.partial(write_chart, rows, out / CHART, title=options.title)
        chart = await anyio.to_thread.run_sync(draw)
    return EvalSummary(rows, results, markdown, csv_path, chart, new, len(stored), baseline)
