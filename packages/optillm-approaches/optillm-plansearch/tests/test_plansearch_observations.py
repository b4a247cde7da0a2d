"""Reading observation lists."""

from __future__ import annotations

from optillm_plansearch.prompts import read_observations


def test_marked_lines_are_the_observations() -> None:
    text = "Here they are:\n1. Sort first.\n2) Use two pointers.\n- Sums fit in 64 bits.\n"
    assert read_observations(text, cut_off=False) == [
        "Sort first.",
        "Use two pointers.",
        "Sums fit in 64 bits.",
    ]


def test_unmarked_lines_all_count() -> None:
    assert read_observations("Sort first.\n\nUse two pointers.", cut_off=False) == [
        "Sort first.",
        "Use two pointers.",
    ]


def test_a_cut_off_reply_loses_its_unfinished_line() -> None:
    assert read_observations("1. Sort first.\n2. Use two poi", cut_off=True) == ["Sort first."]
    assert read_observations("1. Sort fir", cut_off=True) == []
