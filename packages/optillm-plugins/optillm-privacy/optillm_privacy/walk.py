"""Every piece of free text a chat request sends upstream, and rewriting it.

Covered: string contents of every message (system, developer, user, assistant, tool, function),
``text`` and ``refusal`` content parts, assistant ``reasoning_content``, the string values inside
tool-call and function-call arguments (JSON, or the whole string when it is not JSON), and the
body fields ``user``, ``metadata`` (string values) and ``prediction``. The optional ``name`` of
system, developer, user and assistant messages is dropped (it cannot hold a placeholder).
Image, audio and file parts and tool definitions are forwarded unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from optillm_core import ChatRequest

Rewrite = Callable[[str], str]

_TEXT_PARTS = {"text": "text", "refusal": "refusal"}
_NAMED_ROLES = frozenset({"system", "developer", "user", "assistant"})


def _content(content: Any, fn: Rewrite) -> Any:
    if isinstance(content, str):
        return fn(content)
    if isinstance(content, list):
        parts = []
        for part in content:
            key = _TEXT_PARTS.get(part.get("type", "")) if isinstance(part, dict) else None
            if key and isinstance(part.get(key), str):
                part = {**part, key: fn(part[key])}
            parts.append(part)
        return parts
    return content


def _json_leaves(value: Any, fn: Rewrite) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_json_leaves(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _json_leaves(v, fn) for k, v in value.items()}
    return value


def _arguments(arguments: Any, fn: Rewrite) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return fn(arguments)
    if isinstance(parsed, dict | list):
        return json.dumps(_json_leaves(parsed, fn), ensure_ascii=False)
    return fn(arguments)


def _function(function: Any, fn: Rewrite) -> Any:
    if isinstance(function, dict) and "arguments" in function:
        return {**function, "arguments": _arguments(function["arguments"], fn)}
    return function


def rewrite_message(message: dict[str, Any], fn: Rewrite) -> dict[str, Any]:
    """A copy of ``message`` with ``fn`` applied to each of its texts, in a fixed order."""
    out = dict(message)
    if message.get("role") in _NAMED_ROLES:
        out.pop("name", None)
    if "content" in out:
        out["content"] = _content(out["content"], fn)
    if isinstance(out.get("reasoning_content"), str):
        out["reasoning_content"] = fn(out["reasoning_content"])
    if isinstance(out.get("refusal"), str):
        out["refusal"] = fn(out["refusal"])
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [
            {**call, "function": _function(call.get("function"), fn)}
            if isinstance(call, dict)
            else call
            for call in out["tool_calls"]
        ]
    if "function_call" in out:
        out["function_call"] = _function(out["function_call"], fn)
    return out


def _extras(extras: dict[str, Any], fn: Rewrite) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if isinstance(extras.get("user"), str):
        update["user"] = fn(extras["user"])
    metadata = extras.get("metadata")
    if isinstance(metadata, dict):
        update["metadata"] = {k: fn(v) if isinstance(v, str) else v for k, v in metadata.items()}
    prediction = extras.get("prediction")
    if isinstance(prediction, dict) and "content" in prediction:
        update["prediction"] = {**prediction, "content": _content(prediction["content"], fn)}
    return update


def rewrite_request(request: ChatRequest, fn: Rewrite) -> ChatRequest:
    """A copy of ``request`` with ``fn`` applied to every text that would go upstream."""
    messages = [rewrite_message(m, fn) for m in request.messages]
    update: dict[str, Any] = {"messages": messages, **_extras(request.extras, fn)}
    return request.model_copy(update=update)


def request_texts(request: ChatRequest) -> list[str]:
    """The texts of ``request`` in the order ``rewrite_request`` visits them."""
    texts: list[str] = []

    def collect(text: str) -> str:
        texts.append(text)
        return text

    rewrite_request(request, collect)
    return texts
