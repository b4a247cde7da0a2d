"""Reading the structured replies of ``leap``."""

from __future__ import annotations

import pytest

from optillm_leap.parsing import Example, parse_examples, parse_list, same_answer, tag_content

PAIR = [Example("2 + 3 = ?", "5"), Example("4 * 2 = ?", "8")]


@pytest.mark.parametrize(
    "reply",
    [
        '<output>[{"question": "2 + 3 = ?", "answer": "5"}, {"question": "4 * 2 = ?", "answer": 8}]</output>',
        'Found two:\n<output>\n[{"question": "2 + 3 = ?", "answer": "5"},\n'
        ' {"question": "4 * 2 = ?", "answer": "8"}]\n',  # no closing tag
        '```json\n[{"Question": "2 + 3 = ?", "Answer": "5"}, {"input": "4 * 2 = ?", "output": "8"}]\n```',
        'Sure. {"examples": [{"question": "2 + 3 = ?", "answer": "5"}, '
        '{"question": "4 * 2 = ?", "answer": "8"}]} Hope this helps.',
        '<output>[{"question": "2 + 3 = ?", "answer": "5"}, {"question": "4 * 2 = ?", '
        '"answer": "8"}, {"question": "no answer"}, "stray"]</output>',
    ],
)
def test_examples_are_read_from_tolerated_shapes(reply: str) -> None:
    assert parse_examples(reply) == PAIR


def test_a_single_example_object() -> None:
    assert parse_examples('<output>{"question": "q", "answer": "a"}</output>') == [
        Example("q", "a")
    ]


def test_no_examples_is_an_empty_list() -> None:
    assert parse_examples("<output>[]</output>") == []


@pytest.mark.parametrize(
    "reply",
    ["There are no examples here.", "<output>[{'question': broken</output>", "<output>42</output>"],
)
def test_unreadable_replies_are_none(reply: str) -> None:
    assert parse_examples(reply) is None


def test_parse_list_strips_numbering_and_repeats() -> None:
    reply = (
        "Here they are:\n<output>\n1. Check units.\n2) Re-read the question.\n"
        "- check units.\n\n* Verify the sign.\n</output>"
    )
    assert parse_list(reply) == ["Check units.", "Re-read the question.", "Verify the sign."]


def test_tag_content() -> None:
    assert tag_content("a <output> x </output> b") == "x"
    assert tag_content("a <output> x") == "x"
    assert tag_content("none") is None


@pytest.mark.parametrize(
    ("got", "expected", "same"),
    [("42", "42.0", True), ("1/2", "0.5", True), ("Paris.", "paris", True), ("6", "5", False)],
)
def test_same_answer(got: str, expected: str, same: bool) -> None:
    assert same_answer(got, expected) is same
