"""Extraction of the ``<output>`` section, from finished text and incrementally."""

from __future__ import annotations

import pytest

from optillm_cot_reflection.tags import OutputFilter, extract_output

REPLY = (
    "<thinking>Let me see. <reflection>The answer goes in <outp... no, later.</reflection>"
    "</thinking>\n<output>\n  The answer is 42.\n\n  Really.  \n</output>\ntrailing"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<thinking>x</thinking><output>42</output>", "42"),
        ("<thinking>x</thinking>\n<output>\n 42 \n</output>\nafter", "42"),
        ("<thinking>x</thinking><output>\n42 and counting", "42 and counting"),
        ("<output>first</output><output>second</output>", "first"),
        ("no tags at all", None),
        ("</output> only a closing tag", None),
    ],
)
def test_extract_output(text: str, expected: str | None) -> None:
    assert extract_output(text) == expected


def _feed_in_pieces(text: str, size: int) -> str:
    flt = OutputFilter()
    out = [flt.feed(text[i : i + size]) for i in range(0, len(text), size)]
    return "".join(out) + flt.finish()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 1000])
def test_filter_gives_the_same_answer_whatever_the_chunking(size: int) -> None:
    assert _feed_in_pieces(REPLY, size) == "The answer is 42.\n\n  Really."


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_filter_unterminated_section_runs_to_the_end(size: int) -> None:
    assert _feed_in_pieces("<thinking>t</thinking><output> 42 </outp", size) == "42 </outp"


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_filter_without_output_tag_gives_the_whole_text_at_the_end(size: int) -> None:
    text = "Just an answer, <out of the layout."
    flt = OutputFilter()
    early = "".join(flt.feed(text[i : i + size]) for i in range(0, len(text), size))
    assert early == ""
    assert flt.finish() == text


def test_filter_is_incremental() -> None:
    """Answer text is released as soon as it cannot be part of a tag or trailing space."""
    flt = OutputFilter()
    assert flt.feed("<thinking>secret</thinking><output>The ") == "The"
    assert flt.feed("answer is ") == " answer is"
    assert flt.feed("42.</") == " 42."
    assert flt.feed("output> ignored") == ""
    assert flt.finish() == ""
