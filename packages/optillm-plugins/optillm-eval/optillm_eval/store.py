"""The results file: one JSON line per (item, approach, model) outcome, appended as it lands.

Re-running reads the file and skips every outcome already there without an error and with the
item's current fingerprint. A line cut short by a crash is ignored; when an outcome was
recorded twice (a retried error), the last line wins.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

logger = logging.getLogger(__name__)

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Record:
    """One outcome: how an approach did on one item with one model.

    ``correct`` is ``False`` when ``error`` is set (the request failed). ``upstream_calls`` is
    ``None`` when the server did not say (a plain OpenAI-compatible server). ``latency_s`` is
    the wall time of the request, grading excluded.
    """

    item: str
    approach: str
    model: str
    fingerprint: str
    kind: str
    correct: bool
    expected: str
    extracted: str | None
    response: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    upstream_calls: int | None
    latency_s: float
    error: str | None = None
    detail: str = ""
    time: str = ""

    @property
    def key(self) -> Key:
        """The identity of the outcome: item id, approach, model."""
        return (self.item, self.approach, self.model)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens over every upstream call of the request."""
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Read a stored line; unknown fields are ignored, missing optional ones defaulted."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class ResultStore:
    """Outcomes on disk at ``path`` (JSONL), loaded on creation and appended to while open.

    Use as a context manager around the run so the file is closed; every append is flushed.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.records: dict[Key, Record] = {}
        self.skipped_lines = 0
        self._handle: IO[str] | None = None
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = Record.from_dict(json.loads(line))
                except (ValueError, TypeError) as exc:
                    self.skipped_lines += 1
                    logger.warning("%s: ignoring unreadable line %d (%s)", self.path, number, exc)
                    continue
                self.records[record.key] = record

    def is_done(self, item: str, approach: str, model: str, fingerprint: str) -> bool:
        """Whether this outcome is stored, succeeded, and was recorded for the same item."""
        record = self.records.get((item, approach, model))
        return record is not None and record.error is None and record.fingerprint == fingerprint

    def get(self, item: str, approach: str, model: str) -> Record | None:
        """The stored outcome, if any."""
        return self.records.get((item, approach, model))

    def __enter__(self) -> ResultStore:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = self.path.exists() and self.path.stat().st_size > 0
        if needs_newline:
            with self.path.open("rb") as handle:
                handle.seek(-1, 2)
                needs_newline = handle.read(1) != b"\n"
        self._handle = self.path.open("a", encoding="utf-8")
        if needs_newline:  # the previous run died mid-line; start ours on a fresh one
            self._handle.write("\n")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def append(self, record: Record) -> None:
        """Store ``record`` (in memory and, while open, on disk at once)."""
        self.records[record.key] = record
        if self._handle is not None:
            self._handle.write(record.to_json() + "\n")
            self._handle.flush()

    def close(self) -> None:
        """Close the file."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
