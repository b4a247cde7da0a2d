"""Message helpers: the conversation as plain turns, and the token limit of generations.

(The same small module ships in several approach distributions, so that each one depends on
optillm-core alone.)
"""

from __future__ import annotations

from typing import Any

from optillm_core import RequestContext
from optillm_core.models import Message, message_text

SYSTEM_ROLES = frozenset({"system", "developer"})


def conversation(messages: list[Message]) -> list[Message]:
    """The request's conversation as plain turns for the approach's own calls.

    System, developer, user and assistant turns are kept, content parts (images) included.
    Tool and function results are dropped and assistant tool calls removed, because the
    internal calls carry no tool definitions; empty system and assistant turns are dropped
    (a system message that held only an approach tag is empty once the tag is stripped).
    """
    turns: list[Message] = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES or role == "assistant":
            if not message_text(message).strip():
                continue
            turns.append({"role": role, "content": message.get("content")})
        elif role == "user":
            turns.append({"role": "user", "content": message.get("content")})
    return turns


def append_to_last_user(turns: list[Message], text: str) -> list[Message]:
    """A copy of ``turns`` with ``text`` added after the last user message's content.

    String content gets ``text`` after a blank line; a list of parts gets one more text part.
    Appending (rather than adding another user turn) keeps the roles alternating, which some
    chat templates require. Without any user message, ``text`` becomes a new user turn.
    """
    out = list(turns)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") != "user":
            continue
        content = out[i].get("content")
        if isinstance(content, list):
            out[i] = {**out[i], "content": [*content, {"type": "text", "text": text}]}
        else:
            joined = f"{content}\n\n{text}" if content else text
            out[i] = {**out[i], "content": joined}
        return out
    out.append({"role": "user", "content": text})
    return out


def generation_limit(ctx: RequestContext, default: int) -> dict[str, Any]:
    """The token limit for a generation: the client's ``max_completion_tokens`` and/or
    ``max_tokens`` as sent, else ``max_tokens=default`` (nothing when ``default`` is 0)."""
    sent = ctx.request_params(["max_completion_tokens", "max_tokens"])
    if sent:
        return sent
    return {"max_tokens": default} if default > 0 else {}
