"""Pure functions that turn scripted replies into OpenAI chat-completion JSON and SSE chunks."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from optillm_core.testing._fake_types import Reply

_CHUNK_RE = re.compile(r"\S+\s*|\s+")

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON, as the wire format."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def count_words(text: str) -> int:
    """Whitespace-split word count, at least 1 (the fake's token estimate)."""
    return max(1, len(text.split()))


def message_texts(message: Any) -> list[str]:
    """The text of a message: its content string, or the text of its ``text`` parts."""
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return []


def count_prompt_tokens(body: dict[str, Any]) -> int:
    """Words over all message texts of a request body, at least 1."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 1
    words = sum(len(text.split()) for message in messages for text in message_texts(message))
    return max(1, words)


def echo_text(body: dict[str, Any]) -> str:
    """The default reply: ``"echo: "`` plus the last user message's text."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return "echo: " + " ".join(message_texts(message))
    return "echo: "


def word_chunks(text: str) -> list[str]:
    """Split text into word pieces that keep their whitespace, so ``"".join`` restores it."""
    return _CHUNK_RE.findall(text)


def error_payload(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI error JSON for an HTTP status."""
    default_type, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {
            "message": message,
            "type": default_type,
            "param": None,
            "code": code if code is not None else default_code,
        }
    }


@dataclass(frozen=True)
class Meta:
    """What every payload of one response shares."""

    id: str
    created: int
    model: str
    include_usage: bool


def usage(prompt_tokens: int, replies: Sequence[Reply]) -> dict[str, int]:
    """The ``usage`` object for a response made of these replies."""
    completion = sum(completion_tokens(reply) for reply in replies)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def completion_tokens(reply: Reply) -> int:
    """A reply's completion tokens: its override, else the words of its content."""
    if reply.completion_tokens is not None:
        return reply.completion_tokens
    return count_words(reply.content)


def completion(meta: Meta, replies: Sequence[Reply], usage_: dict[str, int]) -> dict[str, Any]:
    """A whole ``chat.completion`` object."""
    choices = [
        {
            "index": index,
            "message": _message(reply),
            "logprobs": reply.logprobs,
            "finish_reason": reply.finish_reason,
        }
        for index, reply in enumerate(replies)
    ]
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
        "usage": usage_,
    }


def _message(reply: Reply) -> dict[str, Any]:
    content: str | None = reply.content
    if reply.tool_calls and not reply.content:
        content = None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    if reply.reasoning_content is not None:
        message["reasoning_content"] = reply.reasoning_content
    return message


def chunk(meta: Meta, choices: list[dict[str, Any]], usage_: Any = None) -> bytes:
    """One SSE event (``data: {...}\\n\\n``) carrying a ``chat.completion.chunk``."""
    payload: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": "fp_fake",
        "choices": choices,
    }
    if meta.include_usage:
        payload["usage"] = usage_
    return b"data: " + dumps(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": None}


def choice_deltas(index: int, reply: Reply) -> list[dict[str, Any]]:
    """The delta choices of one reply before its finish: role, reasoning, content, tools."""
    deltas = [_delta(index, {"role": "assistant", "content": ""})]
    if reply.reasoning_content:
        deltas += [
            _delta(index, {"reasoning_content": piece})
            for piece in word_chunks(reply.reasoning_content)
        ]
    deltas += [_delta(index, {"content": piece}) for piece in word_chunks(reply.content)]
    for position, call in enumerate(reply.tool_calls or []):
        deltas += [
            _delta(index, {"tool_calls": [part]}) for part in _tool_call_parts(position, call)
        ]
    return deltas


def _tool_call_parts(position: int, call: dict[str, Any]) -> list[dict[str, Any]]:
    function = call.get("function") or {}
    arguments = str(function.get("arguments") or "")
    head: dict[str, Any] = {
        "index": position,
        "id": call.get("id"),
        "type": call.get("type", "function"),
        "function": {"name": function.get("name"), "arguments": ""},
    }
    middle = len(arguments) // 2
    pieces = [piece for piece in (arguments[:middle], arguments[middle:]) if piece]
    return [head] + [{"index": position, "function": {"arguments": p}} for p in pieces]


def finish_choice(index: int, reply: Reply) -> dict[str, Any]:
    """The last choice chunk of a reply: empty delta, its finish_reason and logprobs."""
    return {
        "index": index,
        "delta": {},
        "logprobs": reply.logprobs,
        "finish_reason": reply.finish_reason,
    }


def interleave(per_choice: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Round-robin the choices' deltas, as a server generating them in parallel would."""
    rounds = itertools.zip_longest(*per_choice)
    return [delta for round_ in rounds for delta in round_ if delta is not None]
