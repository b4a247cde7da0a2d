"""What a coc user sees: a program's value, repairs, simulation, timeouts — with real runs."""

from __future__ import annotations

import re

import pytest
from coc_helpers import program_reply, run_coc

from optillm_core.testing import FakeUpstream

GOOD = "answer = sum(range(10))"


@pytest.mark.anyio
async def test_the_programs_answer_comes_back_with_an_explanation() -> None:
    fake = FakeUpstream(program_reply(GOOD))
    text, runs = await run_coc(fake)
    assert text == (
        "45\n\nExplanation: I add the numbers with a loop. "
        "The value was computed by running the generated Python program."
    )
    assert fake.call_count == 1
    assert [(r.status, r.stage) for r in runs] == [("ok", "coc")]
    assert re.fullmatch(r"sha256:[0-9a-f]{12} exit=0 timed_out=False", runs[0].detail)
    assert runs[0].latency_ms > 0
    system = fake.bodies[0]["messages"][0]
    assert system["role"] == "system" and "`answer`" in system["content"]
    assert fake.bodies[0]["temperature"] == 0.7


@pytest.mark.anyio
async def test_bare_answer_is_the_value_only() -> None:
    code = "words = ['chain', 'of', 'code']\nanswer = ' '.join(w.upper() for w in words)"
    fake = FakeUpstream(program_reply(code))
    text, _ = await run_coc(fake, body={"bare_answer": True})
    assert text == "CHAIN OF CODE"


@pytest.mark.anyio
async def test_a_failing_program_is_repaired_with_its_error() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        program_reply("total = 0\nanswer = total / 0"),
        program_reply("answer = 6 * 7", prose="Fixed: multiply instead."),
    )
    text, runs = await run_coc(fake)
    assert text.startswith("42\n\nExplanation: Fixed: multiply instead.")
    assert [r.status for r in runs] == ["error", "ok"]
    assert runs[0].detail.endswith("exit=1 timed_out=False")
    repair = fake.bodies[1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "answer = total / 0" in repair[2]["content"]  # the model's own reply
    assert "ZeroDivisionError: division by zero" in repair[3]["content"]
    assert fake.bodies[1]["temperature"] == 0.2


@pytest.mark.anyio
async def test_repeated_failure_falls_back_to_simulation() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        program_reply("answer = undefined_helper(3)"),
        program_reply("answer = still_undefined(3)"),
        "Tracing it: the helper doubles and adds one.\nANSWER: 7",
    )
    text, runs = await run_coc(fake, body={"max_attempts": 2})
    assert text == (
        "7\n\nExplanation: I add the numbers with a loop. The program could not be run "
        "successfully, so this value comes from the model simulating it step by step."
    )
    assert [r.status for r in runs] == ["error", "error"]
    assert fake.call_count == 3  # write, one repair between the two runs, simulate
    simulation = fake.bodies[2]["messages"][-1]["content"]
    assert "still_undefined" in simulation and "NameError" in simulation
    assert "ANSWER:" in simulation


@pytest.mark.anyio
async def test_a_program_that_runs_forever_is_stopped_and_simulated() -> None:
    fake = FakeUpstream()
    fake.enqueue(program_reply("while True:\n    pass\nanswer = 1"), "ANSWER: 1")
    text, runs = await run_coc(
        fake, body={"max_attempts": 1}, plugin_options={"coc": {"run_timeout": 0.5}}
    )
    assert text.startswith("1\n\n")
    assert [r.status for r in runs] == ["timeout"]
    assert runs[0].detail.endswith("timed_out=True")
    assert runs[0].latency_ms < 3000
    assert "time limit" in fake.bodies[1]["messages"][-1]["content"]


@pytest.mark.anyio
async def test_a_program_without_answer_is_told_so() -> None:
    fake = FakeUpstream()
    fake.enqueue(program_reply("result = 2 + 2\nprint(result)"), program_reply("answer = 4"))
    text, runs = await run_coc(fake)
    assert text.startswith("4\n\n")
    assert [r.status for r in runs] == ["error", "ok"]
    repair = fake.bodies[1]["messages"][-1]["content"]
    assert "without setting the variable `answer`" in repair
    assert "4" in repair  # what it printed is shown too


@pytest.mark.anyio
async def test_a_reply_without_a_program_is_the_answer_and_runs_nothing() -> None:
    fake = FakeUpstream("It is 45, no code needed.")
    text, runs = await run_coc(fake)
    assert text == "It is 45, no code needed."
    assert runs == []
    assert fake.call_count == 1
