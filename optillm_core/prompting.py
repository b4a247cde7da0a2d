"""Prompt-building helpers shared by approaches: the conversation as plain turns, system
prompts, follow-up turns, text blocks inside prompts, the client's generation limit, and checks
on replies that later steps build on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .context import Completion, RequestContext
from .errors import ApproachError
from .models import Message, message_text
from .results import Choice

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


def instructed(messages: list[Message], instructions: str = "") -> list[Message]:
    """The conversation behind one system message: ``instructions``, then the client's own
    system prompt (no system message when both are empty); tool turns are dropped."""
    client = [message_text(m) for m in messages if m.get("role") in SYSTEM_ROLES]
    return with_system(join_system(instructions, *client), conversation(messages))


def continued(turns: list[Message], reply: str, follow_up: str) -> list[Message]:
    """``turns``, then the model's ``reply`` and a new user turn ``follow_up``."""
    return [*turns, {"role": "assistant", "content": reply}, {"role": "user", "content": follow_up}]


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


def join_system(*parts: str) -> str:
    """Non-empty parts of a system prompt joined by blank lines."""
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


def fenced(text: str, language: str = "text") -> str:
    """``text`` in a fenced block whose fence is longer than any backtick run inside it, so
    nothing inside can close it early."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def numbered(items: Sequence[str]) -> str:
    """``items`` as a numbered list (``1. …``), one per line."""
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


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


def is_complete(choice: Choice) -> bool:
    """Whether a reply can be used as it is: it has text and was not cut off by the token
    limit (``finish_reason == "length"``)."""
    return bool(choice.text.strip()) and choice.finish_reason != "length"


def usable_choices(choices: Sequence[Choice]) -> list[Choice]:
    """The candidates worth keeping, in order: the complete ones (:func:`is_complete`), or,
    when none is complete, every non-empty one (``[]`` when all are empty)."""
    non_empty = [choice for choice in choices if choice.text.strip()]
    return [choice for choice in non_empty if is_complete(choice)] or non_empty
