"""Reading scores out of judge replies, and picking the winner."""

from __future__ import annotations

import pytest

from optillm_bon.rating import best_index, parse_rating


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("8", 8.0),
        ("8.", 8.0),
        ("  7.5\n", 7.5),
        ("Rating: 8/10", 8.0),
        ("**8**/10", 8.0),
        ("**Rating:** 9", 9.0),
        ("I'd give it 8.5", 8.5),
        ("I would rate this response a 6 because it misses a case.", 6.0),
        ("Score: 7 out of 10", 7.0),
        ("4/5", 8.0),
        ("85/100", 8.5),
        ("[[9]]", 9.0),
        ("Rating (0-10): 6", 6.0),
        ("On a scale of 1\u201310 I'd give it 3", 3.0),
        ("The answer computes 2+2=4 correctly and explains it. Score: 9", 9.0),
        ("Correctness 9/10, clarity 6/10, overall 8/10", 8.0),
        ("It is correct but wordy, so overall a 7", 7.0),
        ("12", 10.0),
        ("Rating: 15/10!", 10.0),
        ("-3", 0.0),
    ],
)
def test_parse_rating_reads_common_forms(reply: str, expected: float) -> None:
    assert parse_rating(reply) == expected


@pytest.mark.parametrize("reply", ["", "   ", "Looks good to me.", "The reply is correct."])
def test_unparseable_rating_is_none(reply: str) -> None:
    assert parse_rating(reply) is None


def test_trailing_number_is_not_trusted_when_cut_off() -> None:
    cut = "Let me check the steps one by one. Step 3"
    assert parse_rating(cut, complete=True) == 3.0
    assert parse_rating(cut, complete=False) is None
    assert parse_rating("Rating: 6", complete=False) == 6.0


@pytest.mark.parametrize(
    ("ratings", "winner"),
    [
        ([3.0, 9.0, 8.5], 1),
        ([7.0, 9.0, 9.0], 1),  # tie: the first of the best wins
        ([5.0, 5.0, 5.0], 0),
        ([None, 0.0, None], 1),  # unparseable ranks below the lowest real score
        ([None, None, None], 0),
        ([None, 4.0, 4.0], 1),
    ],
)
def test_best_index(ratings: list[float | None], winner: int) -> None:
    assert best_index(ratings) == winner
