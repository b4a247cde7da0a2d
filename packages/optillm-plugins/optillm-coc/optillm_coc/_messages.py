"""Message helpers for the approach's own calls.

(The same small module ships in optillm-coc, optillm-executecode and optillm-z3, so that each
distribution depends on optillm-core alone.)
"""

from __future__ import annotations

from optillm_core.models import Message, message_text

SYSTEM_ROLES = frozenset({"system", "developer"})


def instructed(messages: list[Message], instructions: str) -> list[Message]:
    """The conversation with ``instructions`` as its one system message.

    The client's system prompt follows the instructions in that message; user and assistant
    turns are kept (content parts such as images too); tool results, tool calls and empty
    turns are dropped, because the approach's own calls carry no tool definitions.
    """
    system = "\n\n".join(
        text for m in messages if m.get("role") in SYSTEM_ROLES if (text := message_text(m).strip())
    )
    turns: list[Message] = [
        {"role": "system", "content": f"{instructions}\n\n{system}" if system else instructions}
    ]
    for message in messages:
        role = message.get("role")
        if role == "user" or (role == "assistant" and message_text(message).strip()):
            turns.append({"role": role, "content": message.get("content")})
    return turns


def continued(turns: list[Message], reply: str, follow_up: str) -> list[Message]:
    """``turns``, then the model's ``reply`` and a new user turn ``follow_up``."""
    return [*turns, {"role": "assistant", "content": reply}, {"role": "user", "content": follow_up}]


def fenced(text: str, language: str = "text") -> str:
    """``text`` in a fenced block whose fence is longer than any backtick run inside it."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"
