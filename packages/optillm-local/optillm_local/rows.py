"""Row state of a generation: one generated sequence's tokens, text and bookkeeping (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tokens import Detokenizer, StopMatcher


@dataclass
class Delta:
    """New output of one row since the last emission."""

    index: int
    text: str
    logprobs: list[dict[str, Any]] | None
    finish_reason: str | None


@dataclass
class Row:
    """One generated sequence."""

    index: int
    detok: Detokenizer
    stops: StopMatcher
    want_logprobs: bool = False
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    #: per token: top-1 minus top-2 probability of the distribution it was drawn from
    margins: list[float] = field(default_factory=list)
    #: per token: length of ``text`` once that token was added
    ends: list[int] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    shown: int = 0
    sent_logprobs: int = 0
    finish_sent: bool = False

    @property
    def completion_tokens(self) -> int:
        """Tokens generated for this row (an end-of-sequence token included)."""
        return len(self.tokens)

    def add_text(self, piece: str) -> None:
        """Append decoded text, cutting at the first stop string."""
        self.text += piece
        cut = self.stops.find(self.text)
        if cut is not None:
            self.text = self.text[:cut]
            self.finish_reason = "stop"

    def delta(self) -> Delta | None:
        """What can be streamed now (text that cannot become a stop string)."""
        if self.finish_sent:
            return None
        visible = len(self.text) if self.finish_reason else self.stops.safe_length(self.text)
        text = self.text[self.shown : visible] if visible > self.shown else ""
        entries = self.logprobs[self.sent_logprobs :] if self.want_logprobs else []
        if not text and not entries and not self.finish_reason:
            return None
        self.shown = max(self.shown, visible)
        self.sent_logprobs = len(self.logprobs)
        self.finish_sent = self.finish_reason is not None
        return Delta(self.index, text, entries if self.want_logprobs else None, self.finish_reason)
