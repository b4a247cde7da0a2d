"""Pure parts of memory: question split, chunking, note parsing and BM25 ranking."""

from __future__ import annotations

import pytest

from optillm_memory.notes import parse_extraction
from optillm_memory.rank import bm25_scores, top_notes
from optillm_memory.text import GENERIC_QUESTION, chunk_text, split_question


@pytest.mark.parametrize(
    ("text", "context", "question"),
    [
        ("Doc. Query: a? Query: b?", "Doc. Query: a?", "b?"),
        ("First. Second! Who won?", "First. Second!", "Who won?"),
        ("Just one sentence", "Just one sentence", GENERIC_QUESTION),
        ("Doc body. Query:   ", "Doc body.", "Query:"),
    ],
)
def test_split_question(text: str, context: str, question: str) -> None:
    assert split_question(text, "Query:") == (context, question)


def test_chunks_are_bounded_cut_at_breaks_and_lose_nothing() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(2000))
    chunks = chunk_text(text, 1000)
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text
    assert chunk_text("", 1000) == []
    assert chunk_text("x" * 2500, 1000) == ["x" * 1000, "x" * 1000, "x" * 500]


@pytest.mark.parametrize(
    ("reply", "relevant", "note"),
    [
        ("YES#The code is 4711.", True, "The code is 4711."),
        ("**yes**: the code is 4711", True, "the code is 4711"),
        ("NO#", False, ""),
        ("No. Nothing here.", False, ""),
        ("I believe the answer is 4711", None, ""),
        ("YES#", True, ""),
    ],
)
def test_parse_extraction(reply: str, relevant: bool | None, note: str) -> None:
    parsed = parse_extraction(reply)
    assert (parsed.relevant, parsed.note) == (relevant, note)


def test_bm25_ranks_the_matching_note_first() -> None:
    notes = [
        "The weather in the valley was mild.",
        "Lunch was served at noon.",
        "The vault code is 4711 and the vault is in the basement.",
    ]
    assert top_notes("What is the vault code?", notes, 2) == [notes[2], notes[0]]
    scores = bm25_scores("vault code", notes)
    assert scores[2] > 0 and scores[0] == scores[1] == 0
    assert top_notes("anything", [], 3) == []
