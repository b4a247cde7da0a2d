"""Per-request bookkeeping shared by every stage: usage, budget and the trace of calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import BudgetExceededError


@dataclass
class UsageMeter:
    """Token usage summed over every upstream call of one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int | None = None
    calls: int = 0
    truncated: bool = False

    def add(self, usage: dict[str, Any] | None) -> None:
        """Add one upstream response's ``usage`` object."""
        if not usage:
            return
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        details = usage.get("completion_tokens_details") or {}
        reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
        if reasoning is not None:
            self.reasoning_tokens = (self.reasoning_tokens or 0) + int(reasoning)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``usage`` object."""
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        return usage


@dataclass
class Budget:
    """Upper bounds on upstream calls and tokens for one request (``None``: unlimited)."""

    max_calls: int | None = None
    max_tokens: int | None = None
    meter: UsageMeter = field(default_factory=UsageMeter)
    reserved_calls: int = 0

    def remaining(self) -> tuple[int | None, int | None]:
        """Calls and tokens still allowed, so search approaches can stop early."""
        calls = None if self.max_calls is None else self.max_calls - self.reserved_calls
        tokens = None if self.max_tokens is None else self.max_tokens - self.meter.total_tokens
        return calls, tokens

    def can_afford(self, calls: int = 1) -> bool:
        """Whether ``calls`` more upstream calls fit in the budget."""
        left_calls, left_tokens = self.remaining()
        return (left_calls is None or left_calls >= calls) and (
            left_tokens is None or left_tokens > 0
        )

    def reserve(self, calls: int = 1) -> None:
        """Claim ``calls`` upstream calls, or raise ``BudgetExceededError``."""
        if not self.can_afford(calls):
            raise BudgetExceededError(
                f"This request exceeded its budget ({self.max_calls} upstream calls, "
                f"{self.max_tokens} tokens): {self.reserved_calls} calls and "
                f"{self.meter.total_tokens} tokens used."
            )
        self.reserved_calls += calls


@dataclass(frozen=True)
class TraceEntry:
    """One upstream call: which stage made it, how long it took, what it cost."""

    stage: str
    kind: str
    latency_ms: float
    n: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: str = "ok"
    detail: str = ""


@dataclass
class Trace:
    """The ordered list of calls made for a request."""

    entries: list[TraceEntry] = field(default_factory=list)

    def add(self, entry: TraceEntry) -> None:
        """Record a call."""
        self.entries.append(entry)

    def to_list(self) -> list[dict[str, Any]]:
        """The trace as JSON-ready dicts."""
        return [entry.__dict__.copy() for entry in self.entries]
