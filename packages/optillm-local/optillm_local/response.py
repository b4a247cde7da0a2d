"""OpenAI ``chat.completion`` bodies and ``chat.completion.chunk`` dicts for the local engine."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .decoders.base import ChoiceOut, DecodeResult
from .rows import Delta

THINK_END = "</think>"


def new_id() -> str:
    """A fresh completion id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int = 0) -> dict[str, Any]:
    """An OpenAI ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def reasoning_tokens(tokenizer: Any, choices: list[ChoiceOut]) -> int:
    """Tokens inside ``<think>…</think>`` across the choices."""
    total = 0
    for choice in choices:
        end = choice.text.find(THINK_END)
        if end >= 0:
            total += len(tokenizer(choice.text[:end], add_special_tokens=False)["input_ids"])
    return total


def _choice(index: int, choice: ChoiceOut, with_stats: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": index,
        "message": {"role": "assistant", "content": choice.text},
        "logprobs": {"content": choice.logprobs} if choice.logprobs is not None else None,
        "finish_reason": choice.finish_reason,
    }
    if with_stats and choice.stats:
        out["optillm_decoding"] = choice.stats
    return out


def completion(
    model: str,
    result: DecodeResult,
    prompt_tokens: int,
    *,
    reasoning: int = 0,
    with_stats: bool = False,
    completion_id: str | None = None,
) -> dict[str, Any]:
    """The full response body."""
    return {
        "id": completion_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [_choice(i, c, with_stats) for i, c in enumerate(result.choices)],
        "usage": usage(prompt_tokens, result.completion_tokens, reasoning),
    }


class ChunkMaker:
    """Builds the chunks of one streamed completion."""

    def __init__(self, model: str) -> None:
        self.id = new_id()
        self.created = int(time.time())
        self.model = model
        self.started: set[int] = set()

    def chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A chunk envelope."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }

    def _delta(self, index: int, text: str) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": text}
        if index not in self.started:
            self.started.add(index)
            delta = {"role": "assistant", "content": text}
        return delta

    def content(self, deltas: list[Delta]) -> dict[str, Any] | None:
        """A chunk with new text (and its logprobs) for some choices."""
        choices = []
        for d in deltas:
            if not d.text and not d.logprobs:
                continue
            choices.append(
                {
                    "index": d.index,
                    "delta": self._delta(d.index, d.text),
                    "logprobs": {"content": d.logprobs} if d.logprobs is not None else None,
                    "finish_reason": None,
                }
            )
        return self.chunk(choices) if choices else None

    def finish(
        self, result: DecodeResult, *, streamed: bool, with_stats: bool
    ) -> list[dict[str, Any]]:
        """Closing chunks: the whole text when nothing was streamed, then finish reasons."""
        chunks = []
        if not streamed:
            deltas = [
                Delta(i, c.text, c.logprobs, None)
                for i, c in enumerate(result.choices)
                if c.text or c.logprobs
            ]
            first = self.content(deltas)
            if first is not None:
                chunks.append(first)
        closing = []
        for i, choice in enumerate(result.choices):
            item: dict[str, Any] = {
                "index": i,
                "delta": self._delta(i, "") if i not in self.started else {},
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
            if with_stats and choice.stats:
                item["optillm_decoding"] = choice.stats
            closing.append(item)
        chunks.append(self.chunk(closing))
        return chunks

    def usage(self, prompt_tokens: int, completion_tokens: int, reasoning: int) -> dict[str, Any]:
        """The final usage-only chunk."""
        return self.chunk([], usage=usage(prompt_tokens, completion_tokens, reasoning))
