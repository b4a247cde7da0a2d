"""Putting the original values back into an answer: finished choices, or a stream of chunks
restored chunk by chunk (a placeholder split across chunks is held back until it is whole)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from optillm_core import ApproachResult, Choice

from .placeholders import PlaceholderMap, StreamRestorer

Chunk = dict[str, Any]
_TEXT_FIELDS = ("content", "reasoning_content", "refusal")


def _restore_arguments(arguments: Any, mapping: PlaceholderMap) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return mapping.restore(arguments)
    # Restore inside the JSON values so a value with quotes stays valid JSON.
    return json.dumps(_restore_json(parsed, mapping), ensure_ascii=False)


def _restore_json(value: Any, mapping: PlaceholderMap) -> Any:
    if isinstance(value, str):
        return mapping.restore(value)
    if isinstance(value, list):
        return [_restore_json(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _restore_json(v, mapping) for k, v in value.items()}
    return value


def _restore_calls(calls: Any, mapping: PlaceholderMap) -> Any:
    if not isinstance(calls, list):
        return calls
    out = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and "arguments" in function:
            arguments = _restore_arguments(function["arguments"], mapping)
            call = {**call, "function": {**function, "arguments": arguments}}
        out.append(call)
    return out


def restore_choice(choice: Choice, mapping: PlaceholderMap) -> Choice:
    """A copy of ``choice`` with its text, reasoning, refusal and tool-call arguments restored."""
    extra = dict(choice.extra)
    for key in ("reasoning_content", "refusal"):
        if isinstance(extra.get(key), str):
            extra[key] = mapping.restore(extra[key])
    if "tool_calls" in extra:
        extra["tool_calls"] = _restore_calls(extra["tool_calls"], mapping)
    if "function_call" in extra and isinstance(extra["function_call"], dict):
        function = extra["function_call"]
        extra["function_call"] = {
            **function,
            "arguments": _restore_arguments(function.get("arguments"), mapping),
        }
    content = None if choice.content is None else mapping.restore(choice.content)
    return Choice(content, choice.finish_reason, extra, choice.logprobs)


def _restore_delta(
    index: int, delta: dict[str, Any], restorer: StreamRestorer, finishing: bool
) -> dict[str, Any]:
    out = dict(delta)
    for field in _TEXT_FIELDS:
        if isinstance(out.get(field), str):
            out[field] = restorer.feed((index, field), out[field])
    if isinstance(out.get("tool_calls"), list):
        calls = []
        for call in out["tool_calls"]:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key = (index, "tool", call.get("index", 0))
                call = {**call, "function": {**function, "arguments": restorer.feed(key, function["arguments"])}}  # fmt: skip
            calls.append(call)
        out["tool_calls"] = calls
    if finishing:
        _flush_into(index, out, restorer)
    return out


def _flush_into(index: int, delta: dict[str, Any], restorer: StreamRestorer) -> None:
    for key in restorer.pending_keys():
        if key[0] != index:
            continue
        text = restorer.flush(key)
        if key[1] == "tool":
            calls = delta.setdefault("tool_calls", [])
            calls.append({"index": key[2], "function": {"arguments": text}})
        else:
            field = str(key[1])
            delta[field] = (delta.get(field) or "") + text


async def restore_stream(
    stream: AsyncIterator[Chunk], mapping: PlaceholderMap
) -> AsyncIterator[Chunk]:
    """``stream`` with placeholders restored in content, reasoning, refusal and tool-call
    argument deltas; text that may be an unfinished placeholder waits for the next chunk."""
    restorer = StreamRestorer(mapping)
    try:
        async for chunk in stream:
            items = chunk.get("choices")
            if not items:
                yield chunk
                continue
            restored = []
            for item in items:
                index = int(item.get("index", 0))
                delta = item.get("delta") or {}
                finishing = bool(item.get("finish_reason"))
                new_delta = _restore_delta(index, delta, restorer, finishing)
                restored.append({**item, "delta": new_delta})
            yield {**chunk, "choices": restored}
        indexes = sorted({int(str(key[0])) for key in restorer.pending_keys()})
        for index in indexes:
            rest: dict[str, Any] = {}
            _flush_into(index, rest, restorer)
            yield {"choices": [{"index": index, "delta": rest, "finish_reason": None}]}
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def restore_result(result: ApproachResult, mapping: PlaceholderMap) -> ApproachResult:
    """A new result with the original values back in place (``raw`` is never kept)."""
    if result.stream is not None:
        return ApproachResult(stream=restore_stream(result.stream, mapping))
    return ApproachResult(choices=[restore_choice(c, mapping) for c in result.choices])
