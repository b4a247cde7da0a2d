"""Splitting the input into context and question, and the context into chunks."""

from __future__ import annotations

import re

#: Asked when the input is a single sentence (there is no separate question).
GENERIC_QUESTION = "What are the main points of this text?"
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


def split_question(text: str, marker: str) -> tuple[str, str]:
    """``(context, question)``: the text after the last ``marker`` is the question; without
    the marker the last sentence is; a single sentence is all context, with a generic question.
    """
    text = text.strip()
    if marker and marker in text:
        before, _, after = text.rpartition(marker)
        if after.strip():
            return before.strip(), after.strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends:
        cut = ends[-1]
        return text[:cut].strip(), text[cut:].strip()
    return text, GENERIC_QUESTION


def _break_point(text: str, start: int, end: int) -> int:
    """Where to end a chunk in ``text[start:end]``: a paragraph, line, sentence or word break
    in its last tenth, else ``end``."""
    floor = start + (end - start) * 9 // 10
    for separator in ("\n\n", "\n", ". ", " "):
        found = text.rfind(separator, floor, end)
        if found > start:
            return found + len(separator)
    return end


def chunk_text(text: str, size: int) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at natural breaks."""
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _break_point(text, start, end)
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        start = end
    return chunks
