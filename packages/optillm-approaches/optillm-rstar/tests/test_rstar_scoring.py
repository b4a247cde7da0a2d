"""Answer extraction, consistency and the final choice on hand-built trajectories."""

from __future__ import annotations

import random

import pytest

from optillm_rstar.actions import COMPLETE, PROPOSE_STEP, RE_EXAMINE, REPHRASE
from optillm_rstar.scoring import (
    Candidate,
    agrees,
    choose,
    explanation,
    read_step,
    split_point,
    trajectory_answer,
)
from optillm_rstar.tree import Node

QUESTION = "Tom has 12 apples and gives 5 to Ann. How many apples does Tom have now?"


def path(*steps: tuple[str, str], question: str = QUESTION, mean: float = 0.0) -> list[Node]:
    node = Node()
    nodes = []
    for action, text in steps:
        node = node.add_child(action)
        node.pending, node.text = False, text
        reading = read_step(text, action, question)
        node.answer, node.confidence, node.final = (
            reading.answer,
            reading.confidence,
            reading.final,
        )
        nodes.append(node)
    nodes[-1].visits, nodes[-1].value = 1, mean
    return nodes


@pytest.mark.parametrize(
    ("text", "answer", "final"),
    [
        ("So 12 - 5 = 7. The final answer is \\boxed{7}.", "7", True),
        ("The final answer is -2.5.", "-2.5", True),
        ("Hence the ratio is \\boxed{\\frac{3}{4}}", "\\frac{3}{4}", True),
        ("The answer is 3/4", "3/4", False),
        ("After giving some away, 12 - 5 = 7", "7", False),
        ("Sub-question: how many are left? That is 7 apples.", "7", False),
    ],
)
def test_reading_a_step(text: str, answer: str, final: bool) -> None:
    reading = read_step(text, PROPOSE_STEP, QUESTION)
    assert reading.answer == answer
    assert reading.final is final
    assert reading.confidence == (1.0 if final else 0.5)


def test_numbers_from_the_question_are_not_answers() -> None:
    assert read_step("He starts with 12 and gives away 5.", PROPOSE_STEP, QUESTION).answer is None
    restated = "Tom has 12 apples; the final answer is what remains after giving 5."
    assert read_step(restated, REPHRASE, QUESTION).answer is None
    steps = path((REPHRASE, "Tom starts with 12 apples and gives 5 away."))
    assert trajectory_answer(steps) == (None, 0.0)
    steps = path(
        (REPHRASE, "Tom starts with 12 apples and gives 5 away."),
        (PROPOSE_STEP, "We subtract 5 from the 12 apples."),
    )
    assert trajectory_answer(steps) == (None, 0.0)


def test_trajectory_answer_prefers_the_final_statement() -> None:
    steps = path(
        (PROPOSE_STEP, "12 - 5 = 7"),
        (RE_EXAMINE, "Checking again: the final answer is \\boxed{7}."),
    )
    assert trajectory_answer(steps) == ("7", 1.0)
    weak = path((PROPOSE_STEP, "12 - 5 = 7"), (REPHRASE, "We need what is left of 12."))
    assert trajectory_answer(weak) == ("7", 0.5)


def test_consistency_compares_answers_not_words() -> None:
    assert agrees("0.75", "Thus 3/4, so the final answer is \\boxed{\\frac34}.", "stop", "q")
    assert agrees("-2", "The final answer is \u22122.", "stop", "q")
    assert not agrees("0.75", "The final answer is \\boxed{4/3}.", "stop", "q")
    assert not agrees("0.75", "The final answer is \\boxed{0.75}", "length", "q")
    assert not agrees("0.75", "I do not know.", "stop", "q")


def test_a_consistent_minority_beats_an_inconsistent_majority() -> None:
    right = Candidate.of(path((COMPLETE, "The final answer is \\boxed{0.75}.")))
    wrong = [Candidate.of(path((PROPOSE_STEP, "The final answer is \\boxed{4/3}."))) for _ in "ab"]
    right.consistent = True
    for candidate in wrong:
        candidate.consistent = False
    assert choose([*wrong, right]) is right


def test_without_checks_equivalent_answers_vote_together() -> None:
    a = Candidate.of(path((COMPLETE, "The final answer is \\boxed{0.75}.")))
    b = Candidate.of(path((COMPLETE, "The final answer is \\boxed{\\frac{3}{4}}.")))
    c = Candidate.of(path((COMPLETE, "The final answer is \\boxed{2}."), mean=1.0))
    assert choose([c, a, b]) is a


def test_inside_the_winning_group_the_checked_and_confident_one_wins() -> None:
    weak = Candidate.of(path((PROPOSE_STEP, "The answer is 7")))
    strong = Candidate.of(path((COMPLETE, "The final answer is \\boxed{7}.")))
    assert choose([weak, strong]) is strong
    weak.consistent, strong.consistent = True, False
    assert choose([weak, strong]) is weak


def test_without_answers_the_best_rewarded_trajectory_is_kept() -> None:
    low = Candidate.of(path((PROPOSE_STEP, "Think about it."), mean=0.0))
    high = Candidate.of(path((PROPOSE_STEP, "Think harder."), mean=0.4))
    assert choose([low, high]) is high
    assert choose([]) is None


def test_the_explanation_ends_in_the_answer() -> None:
    stated = Candidate.of(path((PROPOSE_STEP, "12 - 5 = 7."), (COMPLETE, "So \\boxed{7}.")))
    assert explanation(stated) == "12 - 5 = 7.\n\nSo \\boxed{7}."
    implied = Candidate.of(path((PROPOSE_STEP, "Tom keeps 12 - 5 = 7")))
    assert explanation(implied) == "Tom keeps 12 - 5 = 7\n\nThe final answer is $\\boxed{7}$."


def test_split_points_keep_and_hide_at_least_one_step() -> None:
    rng = random.Random(0)
    assert split_point(1, rng) == 0
    assert {split_point(4, rng) for _ in range(200)} == {1, 2, 3}
