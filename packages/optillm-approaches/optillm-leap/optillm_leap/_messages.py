"""Message helpers: the conversation as plain turns, the client's generation parameters and
reply checks.

(The same small module ships in optillm-re2, optillm-cot-reflection, optillm-rto, optillm-leap
and optillm-plansearch, so that each distribution depends on optillm-core alone.)
"""

from __future__ import annotations

from typing import Any

from optillm_core import ApproachError, Completion, RequestContext
from optillm_core.models import Message, message_text

SYSTEM_ROLES = frozenset({"system", "developer"})


def conversation(messages: list[Message], *, system: bool = True) -> list[Message]:
    """The request's conversation as plain turns for the approach's own calls.

    User and assistant turns are kept (content parts such as images included), and system and
    developer turns unless ``system`` is false. Tool and function results are dropped and
    assistant tool calls removed, because the internal calls carry no tool definitions; empty
    system and assistant turns are dropped (a system message that held only an approach tag is
    empty once the tag is stripped).
    """
    turns: list[Message] = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES and not system:
            continue
        if role in SYSTEM_ROLES or role == "assistant":
            if not message_text(message).strip():
                continue
            turns.append({"role": role, "content": message.get("content")})
        elif role == "user":
            turns.append({"role": "user", "content": message.get("content")})
    return turns


def with_system(system: str, turns: list[Message]) -> list[Message]:
    """``turns`` (without system turns) behind one system message ``system`` (none if empty)."""
    rest = [m for m in turns if m.get("role") not in SYSTEM_ROLES]
    return ([{"role": "system", "content": system}] if system.strip() else []) + rest


def join_system(*parts: str) -> str:
    """Non-empty parts of a system prompt joined by blank lines."""
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def generation_limit(ctx: RequestContext, default: int) -> dict[str, Any]:
    """The token limit of a generation: the client's ``max_completion_tokens`` and/or
    ``max_tokens`` as sent, else ``max_tokens=default`` (nothing when ``default`` is 0); the
    upstream layer renames the field for upstreams that want the other spelling."""
    sent = ctx.request_params(["max_completion_tokens", "max_tokens"])
    if sent:
        return sent
    return {"max_tokens": default} if default > 0 else {}


def usable_text(completion: Completion, step: str) -> str:
    """The stripped text of a reply that the next step builds on.

    Raises ``ApproachError`` (502) when the reply is empty, or was cut off by the token limit
    (``finish_reason == "length"``): a truncated intermediate answer would silently spoil every
    step after it.
    """
    text = completion.text.strip()
    if not text:
        raise ApproachError(f"{step}: the upstream returned an empty reply.")
    if completion.finish_reason == "length":
        raise ApproachError(
            f"{step}: the upstream's reply was cut off by the token limit "
            "(finish_reason 'length'); raise max_tokens."
        )
    return text
