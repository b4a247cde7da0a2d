"""What a client of ``rto`` sees: 3 calls when the round trip agrees, 4 when it does not."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_rto import plugin

TASK = "Write a Python function that adds two numbers."
MESSAGES = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": TASK},
]
C1 = "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds."
Q2 = "Write a Python function add(a, b) that returns a + b."
C2_SAME = "```py\ndef add(a, b):\n    return a + b   \n```"
C2_OTHER = "```python\ndef add(x, y):\n    return sum([x, y])\n```"
C3 = "Final:\n```python\ndef add(a, b):\n    return a + b\n```"


async def ask(fake: FakeUpstream, **options: Any) -> Any:
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="rto-fake-model", messages=MESSAGES, **options
        )


@pytest.mark.anyio
async def test_equal_code_returns_the_first_code_after_three_sequential_calls() -> None:
    fake = FakeUpstream(latency=0.05)
    fake.enqueue(C1, Q2, C2_SAME)
    response = await ask(fake)
    assert response.choices[0].message.content == "def add(a, b):\n    return a + b"
    assert fake.call_count == 3
    assert fake.dependent_rounds() == 3
    assert response.usage.completion_tokens == fake.completion_tokens_served


@pytest.mark.anyio
async def test_differing_code_gets_a_fourth_call_that_merges_both() -> None:
    fake = FakeUpstream(latency=0.05)
    fake.enqueue(C1, Q2, C2_OTHER, C3)
    response = await ask(fake)
    assert response.choices[0].message.content == C3
    assert fake.call_count == 4
    assert fake.dependent_rounds() == 4
    merge = fake.bodies[3]["messages"]
    assert merge[0] == {"role": "system", "content": "You write Python."}
    prompt = merge[1]["content"]
    assert TASK in prompt
    assert "return a + b" in prompt
    assert "return sum([x, y])" in prompt
    assert response.usage.prompt_tokens == fake.prompt_tokens_served


@pytest.mark.anyio
async def test_the_round_trip_conversations() -> None:
    fake = FakeUpstream()
    fake.enqueue(C1, Q2, C2_SAME)
    await ask(fake)
    first, describe, rebuild = fake.bodies
    assert first["messages"] == MESSAGES
    assert describe["messages"][:3] == [*MESSAGES, {"role": "assistant", "content": C1}]
    assert "instruction" in describe["messages"][3]["content"]
    assert describe["max_tokens"] == 1024
    assert rebuild["messages"] == [MESSAGES[0], {"role": "user", "content": Q2}]
    assert [b["temperature"] for b in fake.bodies] == [0.1, 0.1, 0.1]
    assert (first["max_tokens"], rebuild["max_tokens"]) == (4096, 4096)


@pytest.mark.anyio
async def test_parameters_from_the_request_and_the_body() -> None:
    fake = FakeUpstream()
    fake.enqueue(C1, Q2, C2_SAME)
    await ask(fake, temperature=0.0, max_tokens=900, extra_body={"instruction_max_tokens": 200})
    assert [b["temperature"] for b in fake.bodies] == [0.0, 0.0, 0.0]
    assert [b["max_tokens"] for b in fake.bodies] == [900, 200, 900]
    assert all("instruction_max_tokens" not in b for b in fake.bodies)


@pytest.mark.anyio
async def test_a_cut_off_first_answer_is_an_error_and_stops_early() -> None:
    fake = FakeUpstream()
    fake.enqueue(Reply("```python\ndef add(a, b):\n    ret", finish_reason="length"))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert "first answer" in raised.value.message
    assert fake.call_count == 1


@pytest.mark.anyio
async def test_a_cut_off_instruction_is_still_used() -> None:
    fake = FakeUpstream()
    fake.enqueue(C1, Reply("Write a Python function add(a, b) that", finish_reason="length"))
    fake.enqueue(C2_OTHER, C3)
    response = await ask(fake)
    assert response.choices[0].message.content == C3
    assert fake.bodies[2]["messages"][-1]["content"] == "Write a Python function add(a, b) that"


@pytest.mark.anyio
async def test_an_empty_synthesis_is_an_error() -> None:
    fake = FakeUpstream()
    fake.enqueue(C1, Q2, C2_OTHER, "")
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_streaming_streams_the_synthesis() -> None:
    fake = FakeUpstream()
    fake.enqueue(C1, Q2, C2_OTHER, C3)
    stream = await ask(fake, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == C3
    assert fake.bodies[3]["stream"] is True
    assert all("stream" not in b for b in fake.bodies[:3])
