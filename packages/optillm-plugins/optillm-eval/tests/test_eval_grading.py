"""Every answer type's checker, table-driven: what counts as right and what does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optillm_core import build_engine
from optillm_core.sandbox import Sandbox, SandboxLimits
from optillm_core.testing import FakeUpstream, make_settings, upstream_for
from optillm_eval import EngineTarget, EvalOptions, evaluate
from optillm_eval.grading import extract_code, grade
from optillm_eval.items import CodeCase, Item


def item(kind: str, answer: str = "", **fields: object) -> Item:
    return Item("i", "Q?", answer, kind, **fields)  # type: ignore[arg-type]


# (expected answer, reply, correct?)
MATH = [
    ("42", "So the total is \\boxed{42}.", True),
    ("42", "The answer is 42.", True),
    ("42", "#### 42", True),
    ("42", "I get \\boxed{41}.", False),
    ("0.5", "The answer is \\frac{1}{2}.", True),
    ("\\frac{1}{2}", "Final answer: 0.5", True),
    ("\\dfrac{14}{3}", "\\boxed{\\frac{14}{3}}", True),
    ("1000", "The answer is $1,000.", True),
    ("18", "She earns \\boxed{18 \\text{ dollars}}.", True),
    ("50", "The answer is 50%.", True),
    ("(3, \\frac{\\pi}{2})", "\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", True),
    ("\\{1, 2\\}", "\\boxed{\\{2,1\\}}", True),
    ("3.14159", "\\boxed{3.1415900001}", True),
    ("3", "<think>maybe \\boxed{3}</think> Actually \\boxed{4}.", False),
    ("7", "I do not know.", False),
]
MCQ = [
    ("B", "Answer: B", True),
    ("(B)", "The correct option is **B**.", True),
    ("B", "\\boxed{B}", True),
    ("C", "Answer: B", False),
    ("A", "None of them.", False),
]
EXACT = [
    ("Paris", "The capital is well known.\nAnswer: Paris", True),
    ("Paris", "Answer: paris.", True),
    ("Paris", "Answer: Lyon", False),
    ("New York", "Answer:   new   york", True),
]
CONTAINS = [
    ("Marie Curie", "It was Marie Curie, in 1903.", True),
    ("marie curie", "It was MARIE CURIE.", True),
    ("Marie Curie", "It was Pierre Curie.", False),
]
CASES = (
    [("math", *c) for c in MATH]
    + [("mcq", *c) for c in MCQ]
    + [("exact", *c) for c in EXACT]
    + [("general", *c) for c in EXACT]
    + [("contains", *c) for c in CONTAINS]
)


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "expected", "reply", "correct"), CASES)
async def test_answer_checkers(kind: str, expected: str, reply: str, correct: bool) -> None:
    verdict = await grade(item(kind, expected), reply)
    assert verdict.correct is correct, verdict


@pytest.mark.anyio
async def test_math_reports_the_extracted_answer_and_why_nothing_was_found() -> None:
    assert (await grade(item("math", "4"), "so \\boxed{5}")).extracted == "5"
    missing = await grade(item("math", "4"), "no idea")
    assert missing.extracted is None and "no answer" in missing.detail


@pytest.mark.parametrize(
    ("reply", "program"),
    [
        ("Here:\n```python\nprint(1)\n```\nand a test\n```\nx\n```", "print(1)"),
        ("```py\na = 1\n```\n```python\nb = 2\n```", "b = 2"),
        ("```\nprint(3)\n```", "print(3)"),
        ("```python\nprint(5)\n", "print(5)"),  # cut off before the closing fence
        ("print(4)", "print(4)"),
        ("<think>```python\nwrong\n```</think>```python\nright\n```", "right"),
    ],
)
def test_extract_code(reply: str, program: str) -> None:
    assert extract_code(reply) == program


ADD_TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
STDIO = (CodeCase("2 3\n", "5\n"), CodeCase("10 -4\n", "6"))
GOOD_FN = "```python\ndef add(a, b):\n    return a + b\n```"
BAD_FN = "```python\ndef add(a, b):\n    return a - b\n```"
GOOD_IO = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
BAD_IO = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"
CRASH_IO = "```python\nraise SystemExit('boom')\n```"
SLOW = "```python\nwhile True:\n    pass\n```"
CODE_CASES = [
    ("assert tests pass", ADD_TESTS, GOOD_FN, True, ""),
    ("assert tests fail", ADD_TESTS, BAD_FN, False, "AssertionError"),
    ("stdio cases pass", STDIO, GOOD_IO, True, "2/2 cases passed"),
    ("stdio wrong output", STDIO, BAD_IO, False, "0/2 cases passed; case 1: wrong output"),
    ("stdio crash", STDIO, CRASH_IO, False, "boom"),
    ("endless loop", ADD_TESTS, SLOW, False, "timed out"),
    ("no code", ADD_TESTS, "", False, "no code"),
]


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(SandboxLimits(timeout=5))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tests", "reply", "correct", "detail"),
    [c[1:] for c in CODE_CASES],
    ids=[c[0] for c in CODE_CASES],
)
async def test_code_checker(
    sandbox: Sandbox, tests: object, reply: str, correct: bool, detail: str
) -> None:
    verdict = await grade(item("code", tests=tests), reply, sandbox=sandbox, code_timeout=0.5)
    assert verdict.correct is correct
    assert detail in verdict.detail


@pytest.mark.anyio
async def test_code_items_need_a_sandbox() -> None:
    with pytest.raises(ValueError, match="Sandbox"):
        await grade(item("code", tests=ADD_TESTS), GOOD_FN)


@pytest.mark.anyio
async def test_a_mixed_dataset_is_graded_end_to_end(tmp_path: Path) -> None:
    items = [
        Item("m", "What is 6*7?", "42", "math"),
        Item("c", "Pick", "B", "mcq", choices=("x", "y")),
        Item("e", "Capital of France?", "Paris", "exact"),
        Item("t", "Who?", "Curie", "contains"),
        Item("p", "Add the two numbers on stdin.", "", "code", tests=STDIO),
    ]
    replies = {
        "6*7": "\\boxed{42}",
        "Pick": "Answer: B",
        "France": "Answer: Paris",
        "Who": "It was Marie Curie.",
        "stdin": GOOD_IO,
    }

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        return next(answer for key, answer in replies.items() if key in text)

    fake = FakeUpstream(reply)
    engine, _ = build_engine(make_settings(), autoload=False, upstream=upstream_for(fake))
    summary = await evaluate(
        items,
        ["none"],
        EngineTarget(engine, "fake-model"),
        EvalOptions(output=tmp_path, chart=False, sandbox=Sandbox(SandboxLimits(timeout=5))),
    )
    assert (summary.row("none").correct, summary.row("none").errors) == (5, 0)
    stored = {r["item"]: r for r in map(json.loads, summary.results.read_text().splitlines())}
    assert stored["p"]["detail"] == "2/2 cases passed"
    assert stored["c"]["extracted"] == "B"
