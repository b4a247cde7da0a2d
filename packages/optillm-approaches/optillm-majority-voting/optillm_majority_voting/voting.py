"""The vote itself: cluster samples on their final-answer key and pick the majority.

Pure functions over already drawn samples, so the rules are easy to test on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optillm_core import ApproachError, Choice
from optillm_core.answers import answer_key, majority
from optillm_core.prompting import is_complete


@dataclass(frozen=True)
class Tally:
    """How a vote went: the chosen sample, its answer key and how many samples agreed.

    ``reason`` is ``"majority"`` (a key won), ``"no_answer"`` (no usable sample stated an answer;
    the first usable sample is returned) or ``"all_truncated"`` (every sample was cut by the
    length limit; the first one with text is returned, still marked ``length``).
    """

    choice: Choice
    key: str | None
    votes: int
    usable: int
    reason: str


def vote(samples: Sequence[Choice], kind: str = "math", question: str | None = None) -> Tally:
    """Return the sample whose final answer is the most common among the usable samples.

    Samples are clustered on :func:`optillm_core.answers.answer_key`; ties go to the answer
    that occurs first, and the winner is the first sample with the winning answer. Samples
    cut by ``length`` or empty do not vote.

    Raises:
        ApproachError: no sample has any text at all.
    """
    voters = [s for s in samples if is_complete(s)]
    if not voters:
        cut = [s for s in samples if s.text.strip()]
        if not cut:
            raise ApproachError("majority_voting: the upstream returned no usable sample.")
        return Tally(cut[0], None, 0, 0, "all_truncated")
    keys = [answer_key(s.text, kind, question=question) for s in voters]
    best, count = majority(keys)
    if best is None:
        return Tally(voters[0], None, 0, len(voters), "no_answer")
    winner = voters[keys.index(best)]
    return Tally(winner, best, count, len(voters), "majority")
