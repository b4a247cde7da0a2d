"""Observability: Prometheus metrics, the per-request log line and conversation logs."""

from __future__ import annotations

import bisect
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

logger = logging.getLogger("optillm.requests")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
CALL_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)


@dataclass
class Histogram:
    """A cumulative Prometheus histogram."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        """Record one value."""
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        """Exposition lines."""
        out, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'{name}_bucket{{le="{le}"}} {running}')
        out += [f"{name}_sum {self.total:.6f}", f"{name}_count {self.count}"]
        return out


@dataclass
class Metrics:
    """Process-local request metrics (each worker process has its own)."""

    requests: dict[tuple[str, int], int] = field(default_factory=dict)
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    upstream_calls: Histogram = field(default_factory=lambda: Histogram(CALL_BUCKETS))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    disconnects: int = 0

    def record(
        self,
        approach: str,
        status: int,
        seconds: float,
        calls: int,
        prompt: int,
        completion: int,
        disconnected: bool,
    ) -> None:
        """Account one finished request."""
        key = (approach, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.latency.observe(seconds)
        self.upstream_calls.observe(calls)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.disconnects += int(disconnected)

    def render(self) -> str:
        """Prometheus text exposition format."""
        lines = ["# TYPE optillm_requests_total counter"]
        for (approach, status), n in sorted(self.requests.items()):
            lines.append(f'optillm_requests_total{{approach="{approach}",status="{status}"}} {n}')
        lines.append("# TYPE optillm_request_duration_seconds histogram")
        lines += self.latency.lines("optillm_request_duration_seconds")
        lines.append("# TYPE optillm_upstream_calls_per_request histogram")
        lines += self.upstream_calls.lines("optillm_upstream_calls_per_request")
        lines += [
            "# TYPE optillm_tokens_total counter",
            f'optillm_tokens_total{{kind="prompt"}} {self.prompt_tokens}',
            f'optillm_tokens_total{{kind="completion"}} {self.completion_tokens}',
            "# TYPE optillm_requests_in_flight gauge",
            f"optillm_requests_in_flight {self.in_flight}",
            "# TYPE optillm_client_disconnects_total counter",
            f"optillm_client_disconnects_total {self.disconnects}",
        ]
        return "\n".join(lines) + "\n"


def log_request(
    request_id: str,
    approach: str,
    model: str,
    status: int,
    seconds: float,
    calls: int,
    prompt: int,
    completion: int,
) -> None:
    """The one INFO line per request: no prompt text, no secrets."""
    logger.info(
        "request_id=%s approach=%s model=%s status=%d latency_ms=%.1f upstream_calls=%d "
        "prompt_tokens=%d completion_tokens=%d",
        request_id,
        approach,
        model,
        status,
        seconds * 1000,
        calls,
        prompt,
        completion,
        extra={"request_id": request_id},
    )


class ConversationLog:
    """JSONL records of whole requests: body, every upstream call, the final response.

    One file per day and process (``<dir>/conversations-YYYY-MM-DD-<pid>.jsonl``), so worker
    processes never interleave lines. Writes happen in a worker thread.
    """

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory).expanduser()
        self.lock = anyio.Lock()

    def _path(self) -> Path:
        return self.directory / f"conversations-{time.strftime('%Y-%m-%d')}-{os.getpid()}.jsonl"

    def _write(self, line: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._path().open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    async def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        line = json.dumps(record, ensure_ascii=False, default=str)
        async with self.lock:
            await anyio.to_thread.run_sync(self._write, line)
