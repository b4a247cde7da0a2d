"""Table-driven tests for ``optillm_core.answers``: extraction, normalisation, equality, votes."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from optillm_core.answers import (
    KINDS,
    answer_key,
    answers_equal,
    extract_answer,
    find_answer,
    majority,
    normalize_answer,
    parse_number,
)

# --- extract_answer, math ------------------------------------------------------------------------

MATH_EXTRACTION = [
    ("boxed", r"So the result is $\boxed{42}$.", "42"),
    ("nested boxed", r"Hence $\boxed{\frac{\sqrt{3}}{2}}$.", r"\frac{\sqrt{3}}{2}"),
    ("boxed set", r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
    ("last boxed wins", r"First \boxed{3}, but correcting: \boxed{4}", "4"),
    ("boxed beats phrase", r"The answer is 7, no wait: \boxed{8}", "8"),
    ("fbox", r"\fbox{12}", "12"),
    ("bare boxed", r"so \boxed 7", "7"),
    ("unclosed boxed falls back", r"The answer is 5. \boxed{6", "5"),
    ("boxed text wrapper", r"\boxed{\text{no solution}}", "no solution"),
    ("answer is", "The answer is 42.", "42"),
    ("answer colon", "Answer: 17", "17"),
    ("bold final answer", "**Final Answer:** 17", "17"),
    ("minerva style", "Final Answer: The final answer is $5$. I hope it is correct.", "5"),
    ("final answer beats answer", "The final answer is 9. (Earlier the answer: 3)", "9"),
    ("answer in dollars delims", r"The answer is $\frac{3}{4}$. Done.", r"\frac{3}{4}"),
    ("answer with trailing words", "The answer is 42 because 6 * 7 = 42.", "42"),
    ("answer with unit", "The answer is 3.5 meters.", "3.5"),
    ("answer with filler", "The answer is approximately 3.14.", "3.14"),
    ("answer with dollars", "The answer is $18 per day, total $126.", "18"),
    ("answer with percent", r"So the answer is 50\%.", "50"),
    ("answer with degrees", r"The answer is $45^\circ$.", "45"),
    ("answer negative unicode minus", "The answer is: \u22125", "-5"),
    ("answer assignment", "The final answer is x = -2.", "x = -2"),
    ("gsm8k", "She pays 1000 + 234.\n#### 1,234", "1,234"),
    ("therefore equation", "Therefore, x = 7. Then we check it.", "7"),
    ("thus latex equation", r"Thus $x=\frac{1}{2}$.", r"\frac{1}{2}"),
    ("trailing equation", "Step 1: 48/2 = 24\nStep 2: 48 + 24 = 72", "72"),
    ("last number", "She has 12 apples left over.", "12"),
    ("last negative number", "The temperature dropped to -3 by night.", "-3"),
    ("subtraction is not a sign", "We compute 10-4 and get 6 apples", "6"),
    ("last latex fraction", r"Each gets \frac{1}{3} of the cake", r"\frac{1}{3}"),
    ("think block ignored", "<think>maybe it is 3</think>The answer is 4.", "4"),
    ("unfinished think used", "<think>the answer is 3", "3"),
    ("wordy phrase skipped", "Let me find the answer: we must compute things here.\nTotal 9", "9"),
    ("nothing", "I cannot solve this problem.", None),
    ("empty", "", None),
    ("empty boxed only", r"\boxed{}", None),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in MATH_EXTRACTION],
    ids=[case[0] for case in MATH_EXTRACTION],
)
def test_extract_math(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


QUESTION = "Tom has 5 apples and buys 3 more for $1,000. How many apples does he have?"

QUESTION_CASES = [
    ("new number returned", "He had 5 and bought 3, so 8 apples.", "8"),
    ("only question numbers", "Tom has 5 apples and buys 3 more.", None),
    ("question number in another form", "It cost 1000 dollars and he had 5.", None),
    ("skips to earlier new number", "He ends with 8 apples; recall he had 5.", "8"),
    ("phrase may repeat a question number", "The answer is 5.", "5"),
    ("rstar root state is the question", QUESTION, None),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in QUESTION_CASES],
    ids=[case[0] for case in QUESTION_CASES],
)
def test_extract_math_excludes_question_numbers(text: str, expected: str | None) -> None:
    assert extract_answer(text, question=QUESTION) == expected


def test_question_numbers_are_returned_without_question() -> None:
    assert extract_answer("Tom has 5 apples and buys 3 more.") == "3"


@pytest.mark.parametrize(
    ("text", "source"),
    [
        (r"\boxed{1}", "boxed"),
        ("The answer is 1.", "phrase"),
        ("#### 1", "phrase"),
        ("x + 1 = 2", "equation"),
        ("We get 2 in the end", "last_number"),
    ],
)
def test_find_answer_reports_source(text: str, source: str) -> None:
    found = find_answer(text)
    assert found is not None
    assert found.source == source


# --- extract_answer, mcq / exact / contains ------------------------------------------------------

MCQ_EXTRACTION = [
    ("answer is parens", "The answer is (B).", "B"),
    ("answer colon", "Answer: C", "C"),
    ("answer colon lowercase parens", "Answer: (b)", "B"),
    ("bold answer", "**Answer: D**", "D"),
    ("bold letter only", "After checking each option, I pick **E**", "E"),
    ("boxed letter", r"\boxed{A}", "A"),
    ("boxed text parens", r"$\boxed{\text{(C)}}$", "C"),
    ("correct option", "The correct option is G.", "G"),
    ("option is correct", "Option H is correct.", "H"),
    ("letter J", "answer: J", "J"),
    ("parens at end", "I think it's (A)", "A"),
    ("lone last line", "Let me think.\nB", "B"),
    ("last answer wins", "The answer is A. On reflection the answer is C.", "C"),
    ("pronoun I is not a letter", "Answer: I think the best is (D)", "D"),
    ("word is not a letter", "The answer is Because of gravity", None),
    ("nothing", "hmm, not sure", None),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in MCQ_EXTRACTION],
    ids=[case[0] for case in MCQ_EXTRACTION],
)
def test_extract_mcq(text: str, expected: str | None) -> None:
    assert extract_answer(text, "mcq") == expected


GENERAL_EXTRACTION = [
    ("answer line", "Some reasoning.\nAnswer: Paris\nThanks!", "Paris"),
    ("bold answer line", "Reasoning.\n**Answer:**   Paris  \n", "Paris"),
    ("answer is phrase", "I believe the answer is Mount Everest.", "Mount Everest"),
    ("last non-empty line", "first line\nsecond line\n\n", "second line"),
    ("boxed", r"We get \boxed{\text{blue}} here.", "blue"),
    ("empty", "  \n ", None),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [case[1:] for case in GENERAL_EXTRACTION],
    ids=[case[0] for case in GENERAL_EXTRACTION],
)
@pytest.mark.parametrize("kind", ["exact", "general"])
def test_extract_general(kind: str, text: str, expected: str | None) -> None:
    assert extract_answer(text, kind) == expected


def test_extract_contains_is_whole_reply() -> None:
    assert extract_answer("  The capital is Paris.\n", "contains") == "The capital is Paris."


# --- normalize_answer -----------------------------------------------------------------------------

NORMALIZE_MATH = [
    ("42", "42"),
    ("0.50", "0.5"),
    ("7.", "7"),
    ("1/3", "1/3"),
    (r"\frac{2}{6}", "1/3"),
    (r"\frac{4}{-8}", "-0.5"),
    ("-0", "0"),
    ("1e-3", "0.001"),
    ("1,000", "1000"),
    (r"1{,}000", "1000"),
    ("$1,000.00", "1000"),
    ("x = 5", "5"),
    ("50%", "50"),
    (r"50\%", "50"),
    (r"45^\circ", "45"),
    ("45°", "45"),
    ("5 cm", "5"),
    (r"12 \text{ dollars}", "12"),
    (r"\left( 1,2 \right)", "(1,2)"),
    (r"[0, \infty)", r"[0,\infty)"),
    (r"\{2, 1, 2\}", "{1,2}"),
    ("3, 1", "{1,3}"),
    (r"\sqrt 2", r"\sqrt{2}"),
    ("x^{2}", "x^2"),
    ("x\u00b2", "x^2"),
    ("2 x + 1", "2x+1"),
    (r"\text{no solution}", "no solution"),
]


@pytest.mark.parametrize(("answer", "expected"), NORMALIZE_MATH)
def test_normalize_math(answer: str, expected: str) -> None:
    assert normalize_answer(answer) == expected


EQUIVALENT_FORMS = [
    ("0.5", "1/2", r"\frac{1}{2}", r"\frac12", "2/4", r"\dfrac{1}{2}", r"\tfrac{1}{2}", "\u00bd"),
    ("-0.25", "\u22121/4", r"-\frac{1}{4}", r"\frac{-1}{4}", "-.25", r"$-\dfrac14$"),
    ("1234", "1,234", "1234.0", r"\boxed{1234}", "$1,234", "1234 dollars"),
    ("(1,2)", "(1, 2)", r"\left(1,\ 2\right)", r"(\frac{2}{2}, 2)"),
]


@pytest.mark.parametrize("forms", EQUIVALENT_FORMS, ids=lambda forms: forms[0])
def test_equivalent_forms_share_one_key(forms: tuple[str, ...]) -> None:
    assert {normalize_answer(form) for form in forms} == {normalize_answer(forms[0])}


@pytest.mark.parametrize(
    ("answer", "kind", "expected"),
    [
        ("(b)", "mcq", "B"),
        ("Option C", "mcq", "C"),
        ("d) 42 apples", "mcq", "D"),
        ("  Paris. ", "exact", "paris"),
        ('"New   York"', "general", "new york"),
        ("**Blue**!", "exact", "blue"),
    ],
)
def test_normalize_other_kinds(answer: str, kind: str, expected: str) -> None:
    assert normalize_answer(answer, kind) == expected


# --- answers_equal --------------------------------------------------------------------------------

EQUALITY = [
    ("0.5", r"\frac{1}{2}", "math", True),
    ("0.333", "1/3", "math", False),
    ("3", "3.0000001", "math", True),
    ("3", "3.0001", "math", False),
    ("0", "0.0", "math", True),
    ("-2", "2", "math", False),
    ("(1, 2)", "(1,2)", "math", True),
    ("(1, 2)", "(2, 1)", "math", False),
    ("(1, 2)", "[1, 2]", "math", False),
    ("(1, 2)", "(1, 2, 3)", "math", False),
    ("{1,2}", r"\{2, 1\}", "math", True),
    ("1, 2", r"\{2, 1\}", "math", True),
    ("{1,2}", "{1,3}", "math", False),
    ("{0.5, 1/3}", r"\{\frac13, \frac12\}", "math", True),
    ("(0.5, (1, 2))", r"(\frac12, (1.0, 2))", "math", True),
    ("(1.0000001, 2)", "(1, 2)", "math", True),
    ("2x+1", "2 x + 1", "math", True),
    (r"\pi", "pi", "math", False),
    ("B", "(b)", "mcq", True),
    ("B", "C", "mcq", False),
    ("Paris", "paris.", "exact", True),
    ("Paris", "Lyon", "exact", False),
    ("The capital is Paris, France.", "paris", "contains", True),
    ("The capital is Lyon.", "paris", "contains", False),
    ("anything", "", "contains", False),
]


@pytest.mark.parametrize(("a", "b", "kind", "expected"), EQUALITY)
def test_answers_equal(a: str, b: str, kind: str, expected: bool) -> None:
    assert answers_equal(a, b, kind) is expected


@pytest.mark.parametrize(
    ("a", "b", "rel_tol", "expected"),
    [
        ("100", "101", 0.02, True),
        ("100", "101", 0.001, False),
        ("0.3333", "1/3", 1e-3, True),
        ("0.3333", "1/3", 1e-6, False),
        ("0", "1e-12", 1e-6, False),
    ],
)
def test_answers_equal_tolerance(a: str, b: str, rel_tol: float, expected: bool) -> None:
    assert answers_equal(a, b, rel_tol=rel_tol) is expected


# --- answer_key and majority ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        (r"so \boxed{\dfrac{2}{4}}", "math", "0.5"),
        ("The answer is 1,234 dollars.", "math", "1234"),
        ("Answer: (c)", "mcq", "C"),
        ("no digits at all", "math", None),
        (r"\boxed{ $ $ }", "math", None),
    ],
)
def test_answer_key(text: str, kind: str, expected: str | None) -> None:
    assert answer_key(text, kind) == expected


def test_voting_clusters_equivalent_replies() -> None:
    replies = [r"\boxed{\frac{1}{2}}", "The answer is 0.5.", "#### 3", "So x = 2/4", "no idea"]
    assert majority([answer_key(reply) for reply in replies]) == ("0.5", 3)


MAJORITY = [
    (["a", "b", "b"], ("b", 2)),
    (["a", "b", "b", "a"], ("a", 2)),
    (["b", "a", "a", "b"], ("b", 2)),
    ([None, "x", None, "y"], ("x", 1)),
    ([None, None], (None, 0)),
    ([], (None, 0)),
]


@pytest.mark.parametrize(("keys", "expected"), MAJORITY)
def test_majority_first_occurrence_breaks_ties(
    keys: list[str | None], expected: tuple[str | None, int]
) -> None:
    assert majority(keys) == expected


# --- parse_number ---------------------------------------------------------------------------------

PARSE = [
    ("42", Fraction(42)),
    ("-3.25", Fraction(-13, 4)),
    ("\u22127", Fraction(-7)),
    ("+5", Fraction(5)),
    ("1/3", Fraction(1, 3)),
    (r"-\frac{3}{4}", Fraction(-3, 4)),
    (r"\dfrac{10}{4}", Fraction(5, 2)),
    (r"\frac12", Fraction(1, 2)),
    ("$1,000", Fraction(1000)),
    ("2.5e3", Fraction(2500)),
    ("x = 3", Fraction(3)),
    ("1/0", None),
    ("abc", None),
    (r"\sqrt{2}", None),
    ("1 2", None),
    ("", None),
    ("9" * 5000, None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_parse_number(text: str, expected: Fraction | None) -> None:
    assert parse_number(text) == expected


# --- errors and robustness ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: extract_answer("x", "number"),
        lambda: normalize_answer("x", "MATH"),
        lambda: answers_equal("x", "x", "fuzzy"),
        lambda: answer_key("x", ""),
    ],
)
def test_unknown_kind_raises(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="unknown answer kind"):
        call()


def test_kinds_are_the_documented_ones() -> None:
    assert {"math", "mcq", "exact", "general", "contains"} == KINDS


@pytest.mark.parametrize(
    "text",
    [
        "answer:" + " " * 50_000 + "x",
        "111," * 12_500 + "1111",
        "<think>" * 20_000,
        r"\boxed{" * 5_000,
        "correct option is" + "*" * 50_000 + "x",
        "1" * 50_000 + "x",
    ],
    ids=["spaces", "digit-groups", "think", "boxed", "stars", "digits"],
)
@pytest.mark.parametrize("kind", ["math", "mcq", "exact"])
def test_adversarial_input_is_fast(text: str, kind: str) -> None:
    start = time.perf_counter()
    key = answer_key(text, kind, question=text[:1000])
    answers_equal(text, text[::-1], kind)
    assert key is None or isinstance(key, str)
    assert time.perf_counter() - start < 3.0
