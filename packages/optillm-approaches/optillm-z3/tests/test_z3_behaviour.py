"""What a z3 user sees: solved formalizations explained, repairs, fallbacks and timeouts —
with Z3 really running in the sandbox."""

from __future__ import annotations

import re

import pytest
from z3_helpers import QUESTION, SMT_OK, analysis, run_z3

from optillm_core.testing import FakeUpstream

# Positive cubes: x^3 + y^3 = z^3 has no solution, and Z3 cannot decide that in time.
UNDECIDABLE = """\
(declare-const x Int)
(declare-const y Int)
(declare-const z Int)
(assert (and (> x 0) (> y 0) (> z 0)))
(assert (= (+ (* x x x) (* y y y)) (* z z z)))"""


@pytest.mark.anyio
async def test_an_smt_formalization_is_solved_and_explained() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis(SMT_OK), "The numbers are 6 and 4.")
    text, runs = await run_z3(fake, body={"max_tokens": 300})
    assert text == "The numbers are 6 and 4."
    assert fake.call_count == 2
    assert [r.status for r in runs] == ["ok"]
    assert re.fullmatch(r"sha256:[0-9a-f]{12} exit=0 timed_out=False", runs[0].detail)
    first, final = fake.bodies
    assert "SOLVER_CAN_BE_APPLIED" in first["messages"][0]["content"]
    assert (first["temperature"], first["max_tokens"]) == (0.1, 1024)
    explain = final["messages"][-1]["content"]
    assert explain.startswith(QUESTION)
    assert "result: sat" in explain and "x = 6" in explain and "y = 4" in explain
    assert final["max_tokens"] == 300


@pytest.mark.anyio
async def test_when_no_solver_applies_the_model_answers_directly() -> None:
    fake = FakeUpstream()
    fake.enqueue("A poem is not a constraint.\nSOLVER_CAN_BE_APPLIED: False", "Roses are red.")
    text, runs = await run_z3(fake, question="Write a two-line poem.")
    assert (text, runs, fake.call_count) == ("Roses are red.", [], 2)
    assert fake.bodies[1]["messages"] == [{"role": "user", "content": "Write a two-line poem."}]


@pytest.mark.anyio
async def test_an_smt_error_is_repaired() -> None:
    broken = SMT_OK.replace("(declare-const y Int)\n", "")
    fake = FakeUpstream()
    fake.enqueue(analysis(broken), f"Declared y.\n```smt2\n{SMT_OK}\n```", "6 and 4.")
    text, runs = await run_z3(fake)
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["error", "ok"]
    repair = fake.bodies[1]["messages"]
    assert repair[-2]["role"] == "assistant" and broken in repair[-2]["content"]
    assert "unknown constant y" in repair[-1]["content"]
    assert "x = 6" in fake.bodies[2]["messages"][-1]["content"]


@pytest.mark.anyio
async def test_repeated_failure_falls_back_to_a_plain_answer() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis("(assert (= q 1))"), "```smt2\n(assert (= q 2))\n```", "6 and 4.")
    text, runs = await run_z3(fake, body={"max_attempts": 2})
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["error", "error"]
    assert fake.call_count == 3  # analysis, one repair, the plain answer
    assert fake.bodies[2]["messages"] == [{"role": "user", "content": QUESTION}]


@pytest.mark.anyio
async def test_an_undecided_problem_hits_the_solver_timeout() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis(UNDECIDABLE), "No positive solution is known to exist.")
    text, runs = await run_z3(
        fake, body={"max_attempts": 1}, plugin_options={"z3": {"solver_timeout": 0.3}}
    )
    assert text == "No positive solution is known to exist."
    assert [r.status for r in runs] == ["ok"]  # the runner finished: Z3 said "unknown"
    assert fake.bodies[1]["messages"] == [{"role": "user", "content": QUESTION}]


@pytest.mark.anyio
async def test_a_python_program_that_hangs_is_stopped() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis("while True:\n    pass", language="python"), "6 and 4.")
    text, runs = await run_z3(
        fake, body={"max_attempts": 1}, plugin_options={"z3": {"run_timeout": 0.5}}
    )
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["timeout"]
    assert runs[0].detail.endswith("timed_out=True")


@pytest.mark.anyio
async def test_a_sympy_program_runs_in_the_sandbox() -> None:
    program = "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 5*x + 6, x))"
    fake = FakeUpstream()
    fake.enqueue(analysis(program, language="python"), "x is 2 or 3.")
    text, runs = await run_z3(fake, question="Solve x^2 - 5x + 6 = 0.")
    assert text == "x is 2 or 3."
    assert [r.status for r in runs] == ["ok"]
    assert "[2, 3]" in fake.bodies[1]["messages"][-1]["content"]


@pytest.mark.anyio
async def test_python_with_a_syntax_error_is_repaired_without_running_it() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        analysis("print((1 + 2)", language="python"),
        f"```smt2\n{SMT_OK}\n```",
        "6 and 4.",
    )
    text, runs = await run_z3(fake)
    assert text == "6 and 4."
    assert [r.status for r in runs] == ["ok"]  # only the repaired formalization ran
    assert "SyntaxError" in fake.bodies[1]["messages"][-1]["content"]


@pytest.mark.anyio
async def test_python_is_ignored_when_not_allowed() -> None:
    fake = FakeUpstream()
    fake.enqueue(analysis("print(6, 4)", language="python"), "6 and 4.")
    text, runs = await run_z3(fake, plugin_options={"z3": {"allow_python": False}})
    assert (text, runs) == ("6 and 4.", [])
    assert "```python" not in fake.bodies[0]["messages"][0]["content"]
