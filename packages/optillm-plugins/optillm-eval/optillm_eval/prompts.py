"""The messages sent for an item: its question, its options and a short answer-format line.

The format line asks for the answer where :mod:`optillm_core.answers` looks first (``\\boxed{}``,
``Answer: X``); ``--no-instructions`` sends the question alone.
"""

from __future__ import annotations

from .items import CODE, LETTERS, Item

INSTRUCTIONS: dict[str, str] = {
    "math": "Reason step by step, then give the final answer in \\boxed{}.",
    "mcq": "Reason step by step, then end with a line 'Answer: X' where X is the option letter.",
    "exact": "End your reply with a line 'Answer: <your answer>'.",
    "general": "End your reply with a line 'Answer: <your answer>'.",
    "contains": "",
}
CODE_STDIO = (
    "Write a complete Python 3 program that reads standard input and writes standard output. "
    "Put the whole program in one ```python code block."
)
CODE_TESTS = "Write your Python 3 solution in one ```python code block."


def question_text(item: Item, *, instructions: bool = True) -> str:
    """The user message of ``item``: question, lettered options, then the format line."""
    parts = [item.question]
    if item.choices:
        parts.append("\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)))
    if instructions:
        if item.kind == CODE:
            line = CODE_TESTS if isinstance(item.tests, str) else CODE_STDIO
        else:
            line = INSTRUCTIONS.get(item.kind, "")
        if line:
            parts.append(line)
    return "\n\n".join(parts)


def messages_for(
    item: Item, *, system: str = "", instructions: bool = True
) -> list[dict[str, str]]:
    """The chat messages for ``item``; its own ``system`` wins over the run's ``system``."""
    messages: list[dict[str, str]] = []
    prompt = item.system or system
    if prompt:
        messages.append({"role": "system", "content": prompt})
    messages.append({"role": "user", "content": question_text(item, instructions=instructions)})
    return messages
