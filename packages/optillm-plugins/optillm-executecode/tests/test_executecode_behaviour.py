"""What an executecode user sees: the program's output informs the answer; repairs, fallback
and timeouts — with real sandbox runs."""

from __future__ import annotations

import re

import pytest
from executecode_helpers import code_reply, run_executecode

from optillm_core.testing import FakeUpstream


@pytest.mark.anyio
async def test_the_output_of_the_models_program_informs_the_answer() -> None:
    fake = FakeUpstream()
    fake.enqueue(code_reply("print(sum(range(101)))"), "The sum is 5050.")
    text, runs = await run_executecode(fake, body={"temperature": 0.3})
    assert text == "The sum is 5050."
    assert fake.call_count == 2
    assert [r.status for r in runs] == ["ok"]
    assert re.fullmatch(r"sha256:[0-9a-f]{12} exit=0 timed_out=False", runs[0].detail)
    assert "```python" in fake.bodies[0]["messages"][0]["content"]  # asked for a program
    final = fake.bodies[1]["messages"]
    assert [m["role"] for m in final] == ["system", "user", "assistant", "user"]
    assert "do not write more code" in final[0]["content"]
    assert "5050" in final[-1]["content"] and "finished successfully" in final[-1]["content"]
    assert all(body["temperature"] == 0.3 for body in fake.bodies)


@pytest.mark.anyio
async def test_a_reply_without_code_is_the_answer() -> None:
    fake = FakeUpstream("It is 5050 (Gauss).")
    text, runs = await run_executecode(fake)
    assert (text, runs, fake.call_count) == ("It is 5050 (Gauss).", [], 1)


@pytest.mark.anyio
async def test_a_failing_program_is_repaired() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        code_reply("print(sum(range(101))"),  # a syntax error
        code_reply("print(sum(range(101)))", prose="Fixed the parenthesis."),
        "5050",
    )
    text, runs = await run_executecode(fake)
    assert text == "5050"
    assert [r.status for r in runs] == ["error", "ok"]
    repair = fake.bodies[1]["messages"][-1]["content"]
    assert "SyntaxError" in repair
    final = fake.bodies[2]["messages"]
    assert "Fixed the parenthesis." in final[-2]["content"]  # the repaired reply is shown
    assert "5050" in final[-1]["content"]


@pytest.mark.anyio
async def test_repeated_failure_answers_by_reasoning() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        code_reply("import numpyy"),
        code_reply("import numpyyy"),
        "Without the program: 5050.",
    )
    text, runs = await run_executecode(fake, body={"max_attempts": 2})
    assert text == "Without the program: 5050."
    assert [r.status for r in runs] == ["error", "error"]
    final = fake.bodies[2]["messages"][-1]["content"]
    assert "did not finish successfully" in final and "answer by reasoning" in final
    assert "numpyyy" in final


@pytest.mark.anyio
async def test_a_program_that_hangs_is_stopped_at_the_timeout() -> None:
    fake = FakeUpstream()
    fake.enqueue(
        code_reply("import time\nprint('start', flush=True)\ntime.sleep(30)"), "No result."
    )
    text, runs = await run_executecode(
        fake, body={"max_attempts": 1}, plugin_options={"executecode": {"run_timeout": 0.5}}
    )
    assert text == "No result."
    assert [r.status for r in runs] == ["timeout"]
    assert runs[0].latency_ms < 3000
    final = fake.bodies[1]["messages"][-1]["content"]
    assert "time limit" in final and "start" in final
