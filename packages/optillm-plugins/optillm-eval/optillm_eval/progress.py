"""A progress line on stderr: outcomes done, accuracy so far per approach, tokens, rate, ETA.

On a terminal the line is redrawn in place (at most every ``interval`` seconds); otherwise (a
CI log) a new line is printed every ``plain_interval`` seconds, and once at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

from .store import Record

BAR_WIDTH = 20


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1e6:.1f}M"
    if count >= 1_000:
        return f"{count / 1e3:.1f}k"
    return str(count)


class Progress:
    """Counts outcomes as they land and renders the progress line to ``stream``."""

    def __init__(
        self,
        stream: TextIO | None,
        approaches: Sequence[str],
        total: int,
        *,
        interval: float = 0.2,
        plain_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.clock = clock
        self.tty = bool(stream is not None and stream.isatty())
        self.interval = interval if self.tty else plain_interval
        self.done = 0
        self.new = 0
        self.tokens = 0
        self.correct = dict.fromkeys(approaches, 0)
        self.counted = dict.fromkeys(approaches, 0)
        self.started = clock()
        self._last_draw = float("-inf")

    def resume(self, records: Iterable[Record]) -> None:
        """Count outcomes stored by an earlier run (they are not part of the rate)."""
        for record in records:
            self._count(record)

    def _count(self, record: Record) -> None:
        self.done += 1
        self.tokens += record.total_tokens
        if record.approach in self.correct:
            self.counted[record.approach] += 1
            self.correct[record.approach] += int(record.correct)

    def add(self, record: Record) -> None:
        """Count a new outcome and redraw if it is time."""
        self._count(record)
        self.new += 1
        now = self.clock()
        if now - self._last_draw >= self.interval:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The current progress line."""
        now = self.clock() if now is None else now
        share = self.done / self.total if self.total else 1.0
        filled = round(BAR_WIDTH * share)
        parts = [f"eval {self.done}/{self.total} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"]
        scores = [
            f"{a} {100 * self.correct[a] / self.counted[a]:.0f}%"
            for a in self.correct
            if self.counted[a]
        ]
        if scores:
            parts.append(" ".join(scores))
        parts.append(f"{_tokens(self.tokens)} tok")
        elapsed = now - self.started
        if self.new and elapsed > 0:
            rate = self.new / elapsed
            remaining = self.total - self.done
            parts.append(f"{rate:.1f}/s")
            parts.append(f"ETA {_duration(remaining / rate)}" if remaining else "done")
        return " | ".join(parts)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if self.stream is None:
            return
        if self.tty:
            self.stream.write("\r\x1b[2K" + self.line(now))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final line (and end it on a terminal)."""
        if self.stream is None:
            return
        self._draw(self.clock())
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
