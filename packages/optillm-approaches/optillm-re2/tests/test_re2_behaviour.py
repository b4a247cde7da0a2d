"""What a client of ``re2`` sees: the question read twice, n answers from one call."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client
from optillm_re2 import plugin

QUESTION = "How many r's are in 'strawberry'?"


async def ask(
    fake: FakeUpstream, messages: list[dict[str, Any]] | None = None, **options: Any
) -> Any:
    async with openai_client(make_app(fake, [plugin])) as client:
        return await client.chat.completions.create(
            model="re2-fake-model",
            messages=messages or [{"role": "user", "content": QUESTION}],
            **options,
        )


@pytest.mark.anyio
async def test_the_question_is_read_twice_in_one_call() -> None:
    fake = FakeUpstream("  Three.  ")
    response = await ask(fake)
    assert response.choices[0].message.content == "Three."
    assert fake.call_count == 1
    assert fake.bodies[0]["messages"] == [
        {"role": "user", "content": f"{QUESTION}\nRead the question again: {QUESTION}"}
    ]
    assert "max_tokens" not in fake.bodies[0]  # the reference sends a limit only if asked


@pytest.mark.anyio
async def test_n_answers_come_from_one_call_with_native_n() -> None:
    fake = FakeUpstream(latency=0.05)
    fake.enqueue("one", "two", "three")
    response = await ask(fake, n=3)
    assert [c.message.content for c in response.choices] == ["one", "two", "three"]
    assert fake.call_count == 1
    assert fake.bodies[0]["n"] == 3


@pytest.mark.anyio
async def test_without_native_n_the_calls_run_concurrently() -> None:
    fake = FakeUpstream("an answer", supports_n=False, latency=0.05)
    response = await ask(fake, n=3)
    assert len(response.choices) == 3
    assert fake.call_count == 3
    assert all("n" not in body for body in fake.bodies)
    assert fake.dependent_rounds() == 1


@pytest.mark.anyio
async def test_earlier_turns_and_images_are_kept() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": [{"type": "text", "text": "What is shown?"}, image]},
    ]
    fake = FakeUpstream("A cat.")
    await ask(fake, messages)
    sent = fake.bodies[0]["messages"]
    assert sent[:3] == messages[:3]
    assert sent[3]["content"][:2] == messages[3]["content"]
    assert sent[3]["content"][2] == {
        "type": "text",
        "text": "\nRead the question again: What is shown?",
    }


@pytest.mark.anyio
async def test_client_parameters_are_forwarded() -> None:
    fake = FakeUpstream("ok")
    await ask(fake, temperature=0.3, stop=["\n\n"], seed=11, max_tokens=50)
    body = fake.bodies[0]
    assert (body["temperature"], body["stop"], body["seed"], body["max_tokens"]) == (
        0.3,
        ["\n\n"],
        11,
        50,
    )


@pytest.mark.anyio
async def test_default_max_tokens_parameter() -> None:
    fake = FakeUpstream("ok")
    await ask(fake, extra_body={"optillm": {"re2": {"default_max_tokens": 64}}})
    assert fake.bodies[0]["max_tokens"] == 64
    assert "optillm" not in fake.bodies[0]


@pytest.mark.anyio
async def test_a_cut_off_answer_is_returned_marked_length() -> None:
    fake = FakeUpstream(Reply("Three, because s-t-r", finish_reason="length"))
    response = await ask(fake, max_tokens=5)
    assert response.choices[0].message.content == "Three, because s-t-r"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
async def test_an_empty_choice_is_an_error_not_an_answer() -> None:
    fake = FakeUpstream()
    fake.enqueue("fine", "   ")
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake, n=2)
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_a_request_without_user_text_is_a_400() -> None:
    with pytest.raises(openai.BadRequestError):
        await ask(FakeUpstream("x"), [{"role": "system", "content": "Only a system prompt."}])


@pytest.mark.anyio
async def test_streaming_with_native_n_is_one_streamed_call() -> None:
    fake = FakeUpstream()
    fake.enqueue("first answer", "second answer")
    stream = await ask(fake, n=2, stream=True)
    texts = {0: "", 1: ""}
    async for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    assert texts == {0: "first answer", 1: "second answer"}
    assert fake.call_count == 1
    assert fake.bodies[0]["stream"] is True
