"""Wire models at the HTTP boundary: the chat request and helpers on OpenAI message dicts.

Messages stay plain dicts (OpenAI's own shape) so that passthrough is lossless: tool calls,
content-part arrays, ``developer`` and ``tool`` roles and unknown fields survive untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

Message = dict[str, Any]


class ChatRequest(BaseModel):
    """A ``POST /v1/chat/completions`` body; unknown fields are kept and forwarded."""

    model_config = ConfigDict(extra="allow", frozen=False)

    model: str = ""
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    n: int = Field(default=1, ge=1)

    @field_validator("messages")
    @classmethod
    def _check_messages(cls, messages: list[Message]) -> list[Message]:
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise ValueError(f"messages[{i}] must be an object")
            role = message.get("role")
            if not isinstance(role, str) or role not in ROLES:
                raise ValueError(f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}")
            content = message.get("content")
            if content is not None and not isinstance(content, str | list):
                raise ValueError(f"messages[{i}].content must be a string, a list of parts or null")
            if isinstance(content, list):
                for j, part in enumerate(content):
                    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                        raise ValueError(
                            f"messages[{i}].content[{j}] must be an object with a type"
                        )
        return messages

    def body(self) -> dict[str, Any]:
        """The request as a JSON-ready dict, without fields the client did not send."""
        return self.model_dump(exclude_unset=True)

    @property
    def extras(self) -> dict[str, Any]:
        """Fields beyond the declared ones (temperature, tools, approach parameters, …)."""
        return dict(self.__pydantic_extra__ or {})

    def with_messages(self, messages: list[Message]) -> ChatRequest:
        """A copy of this request with other messages."""
        return self.model_copy(update={"messages": messages})


def message_text(message: Message) -> str:
    """The text of a message: the string content, or its text parts joined by spaces."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, dict) and part.get("type") == "text"
    )


def system_prompt(messages: list[Message]) -> str:
    """The text of the last system (or developer) message, ``""`` when there is none."""
    for message in reversed(messages):
        if message.get("role") in ("system", "developer"):
            return message_text(message)
    return ""


def last_user_text(messages: list[Message]) -> str:
    """The text of the last user message, ``""`` when there is none."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def conversation_text(messages: list[Message]) -> str:
    """The reference's flattened query: ``User: …`` / ``Assistant: …`` lines.

    A single-turn request gives just the user's text, without the ``User:`` prefix.
    """
    turns = [m for m in messages if m.get("role") in ("user", "assistant") and message_text(m)]
    if len(turns) == 1 and turns[0]["role"] == "user":
        return message_text(turns[0])
    label = {"user": "User", "assistant": "Assistant"}
    return "\n".join(f"{label[m['role']]}: {message_text(m)}" for m in turns)


def replace_last_user(messages: list[Message], text: str) -> list[Message]:
    """A copy of ``messages`` whose last user message is ``text`` (appended if there is none)."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].get("role") == "user":
            out[i] = {**out[i], "content": text}
            return out
    out.append({"role": "user", "content": text})
    return out
