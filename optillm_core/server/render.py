"""Turning an approach result into an OpenAI ``chat.completion`` body or SSE chunks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..accounting import UsageMeter
from ..results import ApproachResult, Chunk


def completion_id() -> str:
    """A fresh ``chatcmpl-…`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion_body(result: ApproachResult, model: str, usage: UsageMeter) -> dict[str, Any]:
    """The response body: the upstream's own body for passthrough, else a built one."""
    if result.raw is not None:
        body = dict(result.raw)
        body["model"] = model
        if usage.calls > 1:  # a processor made calls of its own: report them all
            body["usage"] = usage.to_openai()
        return body
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": i,
                "message": choice.message(),
                "logprobs": choice.logprobs,
                "finish_reason": choice.finish_reason,
            }
            for i, choice in enumerate(result.choices)
        ],
        "usage": usage.to_openai(),
    }


def sse(data: Any) -> bytes:
    """One SSE event line."""
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


class ChunkStamper:
    """Gives every chunk one id, ``object``, ``created`` and ``model``; the first chunk of a
    choice carries ``role``; a choice that never finished gets one ``finish_reason``."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self.started: set[int] = set()
        self.finished: set[int] = set()

    def envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A chunk around ``choices``."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            **extra,
            "choices": choices,
        }

    def stamp(self, chunk: Chunk) -> dict[str, Any] | None:
        """The chunk as sent to the client, ``None`` for usage-only chunks."""
        items = chunk.get("choices") or []
        if not items:
            return None
        out = []
        for item in items:
            index = int(item.get("index", 0))
            if index not in self.started:
                self.started.add(index)
                delta = item.get("delta") or {}
                if "role" not in delta:
                    item = {**item, "delta": {"role": "assistant", **delta}}
            if item.get("finish_reason"):
                self.finished.add(index)
            out.append(item)
        extra = {
            k: v
            for k, v in chunk.items()
            if k not in ("id", "object", "created", "model", "choices", "usage")
        }
        return self.envelope(out, **extra)

    def closing(self, usage: UsageMeter) -> list[dict[str, Any]]:
        """Finish chunks for open choices, then the usage chunk if asked for."""
        out = [
            self.envelope([{"index": i, "delta": {}, "finish_reason": "stop"}])
            for i in sorted(self.started - self.finished)
        ]
        if self.include_usage:
            out.append(self.envelope([], usage=usage.to_openai()))
        return out


async def sse_stream(
    chunks: AsyncIterator[Chunk], stamper: ChunkStamper, usage: UsageMeter
) -> AsyncIterator[bytes]:
    """The SSE byte stream (errors propagate: the caller decides how to report them)."""
    async for chunk in chunks:
        stamped = stamper.stamp(chunk)
        if stamped is not None:
            yield sse(stamped)
    for chunk in stamper.closing(usage):
        yield sse(chunk)
    yield DONE
