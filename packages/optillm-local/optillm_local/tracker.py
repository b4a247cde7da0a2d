"""Per-sequence bookkeeping during a batched ``generate``, run as its stopping criterion.

After every step the tracker reads each row's new token, adds its text (incremental
detokenization), its logprob entry and its confidence margin (from the recorder's copy of the
step's distribution, so scores and tokens are aligned by construction), stops rows that produced
an end-of-sequence token or a stop string, and hands streaming deltas to ``emit``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch

from .rows import Delta, Row
from .sampling import Recorder
from .tokens import TokenText


def logprob_entry(
    token_text: TokenText, token: int, logprob: float, top: list[tuple[int, float]]
) -> dict[str, Any]:
    """One OpenAI ``logprobs.content`` item."""
    text, data = token_text.get(token)
    alternatives = []
    for alt, value in top:
        alt_text, alt_bytes = token_text.get(alt)
        alternatives.append({"token": alt_text, "logprob": value, "bytes": alt_bytes})
    return {"token": text, "logprob": logprob, "bytes": data, "top_logprobs": alternatives}


class Tracker:
    """The stopping criterion that does the per-row bookkeeping of a batched ``generate``."""

    def __init__(
        self,
        rows: list[Row],
        *,
        eos_ids: frozenset[int],
        max_tokens: int,
        token_text: TokenText,
        recorder: Recorder | None = None,
        top_logprobs: int = 0,
        margins: bool = False,
        cancel: threading.Event | None = None,
        emit: Callable[[list[Delta]], None] | None = None,
    ) -> None:
        self.rows = rows
        self.eos_ids = eos_ids
        self.max_tokens = max_tokens
        self.token_text = token_text
        self.recorder = recorder
        self.top_logprobs = top_logprobs
        self.margins = margins
        self.cancel = cancel or threading.Event()
        self.emit = emit

    def push(
        self, row: Row, token: int, entry: dict[str, Any] | None, margin: float | None
    ) -> None:
        """Add one token to ``row``."""
        row.tokens.append(token)
        if margin is not None:
            row.margins.append(margin)
        if token in self.eos_ids:
            row.add_text(row.detok.flush())
            row.ends.append(len(row.text))
            row.finish_reason = row.finish_reason or "stop"
            return
        if entry is not None:
            row.logprobs.append(entry)
        row.add_text(row.detok.push(token))
        if not row.finish_reason and len(row.tokens) >= self.max_tokens:
            row.add_text(row.detok.flush())
            row.finish_reason = row.finish_reason or "length"
        row.ends.append(len(row.text))

    def __call__(self, input_ids: torch.Tensor, scores: Any = None, **kwargs: Any) -> torch.Tensor:
        """Book the step's tokens; return which rows are done."""
        tokens = input_ids[:, -1].tolist()
        logp = self.recorder.logp if self.recorder is not None else None
        chosen: list[float] | None = None
        top: list[list[tuple[int, float]]] | None = None
        margins: list[float] | None = None
        if logp is not None and any(r.want_logprobs for r in self.rows):
            index = input_ids[:, -1:].to(logp.device)
            chosen = logp.gather(1, index)[:, 0].tolist()
            if self.top_logprobs:
                values, ids = torch.topk(logp, self.top_logprobs, dim=-1)
                top = [
                    list(zip(i, v, strict=True))
                    for i, v in zip(ids.tolist(), values.tolist(), strict=True)
                ]
        if logp is not None and self.margins:
            best = torch.topk(logp, 2, dim=-1).values.exp()
            margins = (best[:, 0] - best[:, 1]).tolist()
        for r, row in enumerate(self.rows):
            if row.finish_reason:
                continue
            entry = None
            if chosen is not None and row.want_logprobs:
                alternatives = top[r] if top is not None else []
                entry = logprob_entry(self.token_text, tokens[r], chosen[r], alternatives)
            self.push(row, tokens[r], entry, margins[r] if margins is not None else None)
        self.send()
        if self.cancel.is_set():
            return torch.ones(len(self.rows), dtype=torch.bool, device=input_ids.device)
        done = [row.finish_reason is not None for row in self.rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def finish(self) -> None:
        """After ``generate`` returned: rows that never finished ran out of tokens."""
        for row in self.rows:
            if not row.finish_reason:
                row.add_text(row.detok.flush())
                row.finish_reason = row.finish_reason or "length"
        self.send()

    def send(self) -> None:
        """Hand new deltas to the streaming sink, if any."""
        if self.emit is None:
            return
        deltas = [d for d in (row.delta() for row in self.rows) if d is not None]
        if deltas:
            self.emit(deltas)
