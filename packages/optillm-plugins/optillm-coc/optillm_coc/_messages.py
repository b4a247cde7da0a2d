"""Message helpers for the approach's own calls, on top of ``optillm_core.prompting``.

(The same small module ships in optillm-coc, optillm-executecode and optillm-z3.)
"""

from __future__ import annotations

from optillm_core.models import Message, message_text
from optillm_core.prompting import SYSTEM_ROLES, conversation, join_system, with_system


def instructed(messages: list[Message], instructions: str = "") -> list[Message]:
    """The conversation behind one system message: ``instructions``, then the client's own
    system prompt (no system message when both are empty); tool turns are dropped."""
    client = [message_text(m) for m in messages if m.get("role") in SYSTEM_ROLES]
    return with_system(join_system(instructions, *client), conversation(messages))


def continued(turns: list[Message], reply: str, follow_up: str) -> list[Message]:
    """``turns``, then the model's ``reply`` and a new user turn ``follow_up``."""
    return [*turns, {"role": "assistant", "content": reply}, {"role": "user", "content": follow_up}]


def fenced(text: str, language: str = "text") -> str:
    """``text`` in a fenced block whose fence is longer than any backtick run inside it, so
    nothing inside can close it early."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"
