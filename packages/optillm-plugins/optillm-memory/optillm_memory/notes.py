"""The prompts of ``memory``: taking notes from one chunk, and answering from the notes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EXTRACT_SYSTEM = (
    "You are reading one part of a long text on behalf of someone who has a question about "
    "the whole text. Copy out every passage of this part that helps answer the question — "
    "facts, names, numbers, dates, definitions — word for word, without commentary.\n"
    "Start your reply with YES# followed by the copied passages if this part holds anything "
    "relevant. Reply with just NO# if it holds nothing relevant."
)

_MARK = re.compile(r"^[\s*_`>\"']*(YES|NO)\b[*_`\"']*\s*[#:.\-\u2013\u2014]?\s*", re.IGNORECASE)


def extraction_messages(question: str, chunk: str, index: int, total: int) -> list[dict[str, Any]]:
    """The messages of one extraction call."""
    user = f"Question: {question}\n\nPart {index} of {total} of the text:\n\n{chunk}"
    return [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class Extraction:
    """One chunk's reply: ``relevant`` (YES/NO), or ``None`` when it followed neither form."""

    relevant: bool | None
    note: str = ""


def parse_extraction(reply: str) -> Extraction:
    """Read a ``YES#…`` / ``NO#`` reply (case, markdown and a ``:`` instead of ``#`` tolerated)."""
    match = _MARK.match(reply)
    if match is None:
        return Extraction(None)
    if match.group(1).upper() == "NO":
        return Extraction(False)
    return Extraction(True, reply[match.end() :].strip())


def answer_prompt(notes: list[str], question: str) -> str:
    """The user message of the final call."""
    if not notes:
        return (
            "No passage of the text you were given seemed relevant to the question. "
            f"Answer as well as you can.\n\nQuestion: {question}"
        )
    listed = "\n\n".join(f"[{i}] {note}" for i, note in enumerate(notes, 1))
    return (
        "Notes taken while reading the text you were given (most relevant first):\n\n"
        f"{listed}\n\nUsing these notes, answer the question.\n\nQuestion: {question}"
    )
