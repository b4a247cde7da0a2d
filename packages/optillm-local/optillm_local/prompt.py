"""Messages → prompt token ids: the tokenizer's chat template, or for models without one (base
models such as Gemma 3 270M) a plain role-prefixed transcript (DESIGN §8.14), whose next turn
(``\nUser:``, ``\nSystem:``, ``\nAssistant:``) also ends the reply."""

from __future__ import annotations

from typing import Any

ROLE_NAMES = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "function": "Tool",
}


def message_text(content: Any) -> str:
    """The text of a message's content (a string or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
    )


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Messages reduced to ``{"role", "content"}`` with text content (``developer`` → ``system``)."""
    out = []
    for message in messages:
        role = message.get("role", "user")
        out.append(
            {
                "role": "system" if role == "developer" else str(role),
                "content": message_text(message.get("content")),
            }
        )
    return out


#: where a base model's continuation of a transcript starts the next turn
TRANSCRIPT_STOPS = ("\nUser:", "\nSystem:", "\nAssistant:")


def uses_template(tokenizer: Any) -> bool:
    """Whether the tokenizer has a chat template (else the plain transcript is used)."""
    return bool(getattr(tokenizer, "chat_template", None))


def role_prefixed(messages: list[dict[str, str]]) -> str:
    """The transcript used when the tokenizer has no chat template."""
    lines = [f"{ROLE_NAMES.get(m['role'], m['role'].title())}: {m['content']}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


def prompt_ids(tokenizer: Any, messages: list[dict[str, Any]]) -> list[int]:
    """Token ids of the prompt for ``messages``, ending where the assistant's reply starts."""
    plain = plain_messages(messages)
    if uses_template(tokenizer):
        text = tokenizer.apply_chat_template(plain, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(role_prefixed(plain), add_special_tokens=True)["input_ids"]
    return [int(i) for i in ids]
