"""Which code ``executecode`` may run: the model's blocks, never the request's by accident."""

from __future__ import annotations

from optillm_core.codeexec import fenced_blocks
from optillm_core.models import Message, message_text


def normalized(code: str) -> str:
    """``code`` without blank lines and trailing spaces (to recognise a copied block)."""
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def request_blocks(messages: list[Message]) -> set[str]:
    """Every python block that the request itself carries (any role but assistant),
    normalized."""
    return {
        normalized(block)
        for message in messages
        if message.get("role") != "assistant"
        for block in fenced_blocks(message_text(message))
    }


def model_program(reply: str, supplied: set[str]) -> tuple[str, int]:
    """The program in a model reply: its python blocks joined in order (they share state, as
    notebook cells would), minus blocks copied verbatim from the request. Returns the program
    (``""`` when none is left) and how many copied blocks were left out."""
    kept: list[str] = []
    copied = 0
    for block in fenced_blocks(reply):
        if normalized(block) in supplied:
            copied += 1
        else:
            kept.append(block)
    return "\n\n".join(kept), copied


def user_program(messages: list[Message]) -> str:
    """The python blocks of the last user message, joined in order (``""`` when none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return "\n\n".join(fenced_blocks(message_text(message)))
    return ""
