"""What approaches return: finished choices, a lossless upstream body, or a stream of chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from .concurrency import task_group

Chunk = dict[str, Any]


@dataclass
class Choice:
    """One answer: its text, the real finish reason and any extra message fields."""

    content: str | None
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)
    logprobs: Any = None

    @property
    def text(self) -> str:
        """The content, ``""`` when there is none."""
        return self.content or ""

    def message(self) -> dict[str, Any]:
        """The OpenAI ``message`` object of this choice."""
        return {"role": "assistant", "content": self.content, **self.extra}

    @classmethod
    def from_openai(cls, choice: dict[str, Any]) -> Choice:
        """Build from an OpenAI ``choices[i]`` dict."""
        message = dict(choice.get("message") or {})
        message.pop("role", None)
        content = message.pop("content", None)
        return cls(
            content=content,
            finish_reason=choice.get("finish_reason") or "stop",
            extra={k: v for k, v in message.items() if v is not None},
            logprobs=choice.get("logprobs"),
        )


@dataclass
class ApproachResult:
    """An approach's answer.

    Exactly one form is used: ``choices`` (finished answers), ``raw`` (an upstream
    ``chat.completion`` body returned unchanged apart from the model name), or ``stream`` (an async
    iterator of OpenAI ``chat.completion.chunk`` dicts for the final stage, consumed chunk by chunk).
    """

    choices: list[Choice] = field(default_factory=list)
    raw: dict[str, Any] | None = None
    stream: AsyncIterator[Chunk] | None = None

    @classmethod
    def text(cls, content: str, finish_reason: str = "stop") -> ApproachResult:
        """A single finished answer."""
        return cls(choices=[Choice(content, finish_reason)])

    @classmethod
    def from_raw(cls, body: dict[str, Any]) -> ApproachResult:
        """Wrap an upstream completion body (choices parsed too, for later stages)."""
        return cls(choices=[Choice.from_openai(c) for c in body.get("choices") or []], raw=body)

    async def collect(self) -> ApproachResult:
        """This result with any stream consumed into finished choices."""
        if self.stream is None:
            return self
        return ApproachResult(choices=await collect_stream(self.stream))

    @property
    def first_text(self) -> str:
        """The text of the first choice (``""`` when there is none); call ``collect()`` first."""
        return self.choices[0].text if self.choices else ""


def _merge_tool_call(calls: list[dict[str, Any]], delta: dict[str, Any]) -> None:
    index = delta.get("index", len(calls))
    while len(calls) <= index:
        calls.append({"function": {"arguments": ""}})
    call = calls[index]
    for key, value in delta.items():
        if key == "function":
            function = call.setdefault("function", {})
            for fkey, fvalue in (value or {}).items():
                if fkey == "arguments":
                    function["arguments"] = function.get("arguments", "") + (fvalue or "")
                elif fvalue is not None:
                    function[fkey] = fvalue
        elif key != "index" and value is not None:
            call[key] = value


async def collect_stream(stream: AsyncIterator[Chunk]) -> list[Choice]:
    """Reassemble streamed chunks into finished choices (content, tool calls, reasoning)."""
    texts: dict[int, list[str]] = {}
    extras: dict[int, dict[str, Any]] = {}
    finish: dict[int, str] = {}
    logprobs: dict[int, list[Any]] = {}
    async for chunk in stream:
        for item in chunk.get("choices") or []:
            index = int(item.get("index", 0))
            texts.setdefault(index, [])
            extra = extras.setdefault(index, {})
            delta = item.get("delta") or {}
            for key, value in delta.items():
                if key == "content" and value:
                    texts[index].append(value)
                elif key == "tool_calls" and value:
                    for call in value:
                        _merge_tool_call(extra.setdefault("tool_calls", []), call)
                elif key in ("reasoning_content", "refusal") and value:
                    extra[key] = extra.get(key, "") + value
            if item.get("logprobs") and item["logprobs"].get("content"):
                logprobs.setdefault(index, []).extend(item["logprobs"]["content"])
            if item.get("finish_reason"):
                finish[index] = item["finish_reason"]
    return [
        Choice(
            content="".join(texts[i]) if texts[i] or "tool_calls" not in extras[i] else None,
            finish_reason=finish.get(i, "stop"),
            extra=extras[i],
            logprobs={"content": logprobs[i]} if i in logprobs else None,
        )
        for i in sorted(texts)
    ]


async def _reindexed(stream: AsyncIterator[Chunk], offset: int) -> AsyncIterator[Chunk]:
    async for chunk in stream:
        items = chunk.get("choices") or []
        if not items:
            continue  # usage-only chunks: the server reports usage from its own meter
        yield {
            **chunk,
            "choices": [{**item, "index": int(item.get("index", 0)) + offset} for item in items],
        }


async def _choice_chunks(choices: Sequence[Choice], offset: int) -> AsyncIterator[Chunk]:
    for i, choice in enumerate(choices):
        delta = {"role": "assistant", "content": choice.content, **choice.extra}
        item: dict[str, Any] = {"index": offset + i, "delta": delta, "finish_reason": None}
        if choice.logprobs is not None:
            item["logprobs"] = choice.logprobs
        yield {"choices": [item]}
        yield {
            "choices": [{"index": offset + i, "delta": {}, "finish_reason": choice.finish_reason}]
        }


def as_chunks(result: ApproachResult, offset: int = 0) -> AsyncIterator[Chunk]:
    """The result as a chunk stream whose choice indexes start at ``offset``."""
    if result.stream is not None:
        return _reindexed(result.stream, offset) if offset else result.stream
    return _choice_chunks(result.choices, offset)


async def _merged(parts: list[tuple[ApproachResult, int]]) -> AsyncIterator[Chunk]:
    send, receive = anyio.create_memory_object_stream[Chunk](max_buffer_size=64)

    async def pump(result: ApproachResult, offset: int, out: Any) -> None:
        async with out:
            async for chunk in as_chunks(result, offset):
                await out.send(chunk)

    async with task_group() as tg:
        async with send:
            for result, offset in parts:
                tg.start_soon(pump, result, offset, send.clone())
        async with receive:
            async for chunk in receive:
                yield chunk


def merge_results(results: Sequence[ApproachResult], widths: Sequence[int]) -> ApproachResult:
    """Join results into one, in order; ``widths[i]`` is how many choices result ``i`` holds.

    Finished results are concatenated; if any result streams, the merged result streams every
    part concurrently with choice indexes shifted so they do not collide.
    """
    if len(results) == 1:
        return results[0]
    offsets = [sum(widths[:i]) for i in range(len(results))]
    if all(r.stream is None for r in results):
        return ApproachResult(choices=[c for r in results for c in r.choices])
    return ApproachResult(stream=_merged(list(zip(results, offsets, strict=True))))
