"""``memory`` on long contexts: the right chunk's note answers, extraction runs concurrently."""

from __future__ import annotations

import math
import random
from typing import Any

import openai
import pytest

from optillm_core.testing import (
    ApproachContract,
    FakeUpstream,
    Reply,
    make_app,
    openai_client,
)
from optillm_memory import plugin as memory_plugin
from optillm_memory.notes import EXTRACT_SYSTEM

NEEDLE = "The vault code is 4711."
DECOYS = ("The weather was mild all week.", "Lunch was served at noon in the hall.")


def is_extraction(body: dict[str, Any]) -> bool:
    return body["messages"][0]["content"] == EXTRACT_SYSTEM


def scripted(body: dict[str, Any]) -> str:
    """Notes: the needle from its chunk, decoys from some chunks, NO# elsewhere; the final
    answer quotes the first note it is given."""
    user = body["messages"][-1]["content"]
    if is_extraction(body):
        if NEEDLE in user:
            return f"YES#{NEEDLE}"
        decoy = next((d for d in DECOYS if d in user), None)
        return f"YES#{decoy}" if decoy else "NO#"
    first = user.split("[1] ", 1)[1].split("\n", 1)[0] if "[1] " in user else "nothing"
    return f"From my notes: {first}"


class TestMemoryContract(ApproachContract):
    plugin = memory_plugin
    slug = "memory"
    reply = staticmethod(lambda body: "YES#6 times 7" if is_extraction(body) else "42")


def long_context(size: int, needle_at: float) -> str:
    """About ``size`` characters of filler sentences with the needle at a relative position
    and the decoys elsewhere."""
    rng = random.Random(7)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
    ]
    sentences: list[str] = []
    length = 0
    while length < size:
        sentence = " ".join(rng.choice(words) for _ in range(12)).capitalize() + "."
        sentences.append(sentence)
        length += len(sentence) + 1
    sentences.insert(int(len(sentences) * needle_at), NEEDLE)
    sentences.insert(int(len(sentences) * 0.1), DECOYS[0])
    sentences.insert(int(len(sentences) * 0.9), DECOYS[1])
    return " ".join(sentences)


@pytest.mark.anyio
async def test_a_megabyte_context_is_answered_from_the_right_chunk_concurrently() -> None:
    fake = FakeUpstream(scripted, latency=0.15)
    context = long_context(1_000_000, needle_at=0.63)
    prompt = f"{context}\n\nQuery: What is the vault code?"
    app = make_app(fake, [memory_plugin], plugin_options={"memory": {"concurrency": 16}})
    async with openai_client(app) as client:
        response = await client.chat.completions.create(
            model="memory-fake-model",
            messages=[
                {"role": "system", "content": "Be exact."},
                {"role": "user", "content": prompt},
            ],
            extra_body={"top_k": 2},
        )
    assert response.choices[0].message.content == f"From my notes: {NEEDLE}"
    extractions = [b for b in fake.bodies if is_extraction(b)]
    assert len(extractions) == fake.call_count - 1 >= 10  # ~100 000 characters per chunk
    assert all(len(b["messages"][1]["content"]) < 101_000 for b in extractions)
    assert fake.max_in_flight > 1
    assert fake.dependent_rounds() == 2  # all chunks in one round, then the answer
    final = fake.bodies[-1]
    assert final["messages"][0] == {"role": "system", "content": "Be exact."}
    assert len(final["messages"][1]["content"]) < 1_000  # notes + question, not the context
    assert "What is the vault code?" in final["messages"][1]["content"]
    assert response.usage.prompt_tokens == fake.prompt_tokens_served


@pytest.mark.anyio
async def test_concurrency_bounds_the_extraction_calls() -> None:
    fake = FakeUpstream(scripted, latency=0.05)
    prompt = long_context(60_000, needle_at=0.5) + " Query: What is the vault code?"
    async with openai_client(make_app(fake, [memory_plugin])) as client:
        await client.chat.completions.create(
            model="memory-fake-model",
            messages=[{"role": "user", "content": prompt}],
            extra_body={"chunk_size": 10_000, "concurrency": 2},
        )
    extractions = fake.call_count - 1
    assert extractions >= 6
    assert fake.max_in_flight == 2
    assert fake.dependent_rounds() == math.ceil(extractions / 2) + 1


@pytest.mark.anyio
async def test_the_operator_caps_concurrency() -> None:
    fake = FakeUpstream(scripted, latency=0.05)
    prompt = long_context(40_000, needle_at=0.5) + " Query: What is the vault code?"
    app = make_app(fake, [memory_plugin], plugin_options={"memory": {"concurrency": 1}})
    async with openai_client(app) as client:
        await client.chat.completions.create(
            model="memory-fake-model",
            messages=[{"role": "user", "content": prompt}],
            extra_body={"chunk_size": 10_000, "concurrency": 50},
        )
    assert fake.max_in_flight == 1


@pytest.mark.anyio
async def test_without_marker_the_last_sentence_is_the_question() -> None:
    fake = FakeUpstream(scripted)
    async with openai_client(make_app(fake, [memory_plugin])) as client:
        await client.chat.completions.create(
            model="memory-fake-model",
            messages=[{"role": "user", "content": f"Notes. {NEEDLE} What is the code?"}],
        )
    extraction = fake.bodies[0]["messages"][1]["content"]
    assert extraction.startswith("Question: What is the code?")
    assert NEEDLE in extraction
    assert fake.bodies[-1]["messages"][0]["content"].endswith("Question: What is the code?")


@pytest.mark.anyio
async def test_unusable_extraction_replies_are_an_error() -> None:
    fake = FakeUpstream(lambda body: "I think so." if is_extraction(body) else "answer")
    async with openai_client(make_app(fake, [memory_plugin])) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(
                model="memory-fake-model",
                messages=[{"role": "user", "content": "Some context. What is it?"}],
            )
    assert raised.value.status_code == 502
    assert "YES#/NO#" in raised.value.message


@pytest.mark.anyio
async def test_no_relevant_notes_still_answers() -> None:
    fake = FakeUpstream(lambda body: Reply("NO#") if is_extraction(body) else Reply("unsure"))
    async with openai_client(make_app(fake, [memory_plugin])) as client:
        response = await client.chat.completions.create(
            model="memory-fake-model",
            messages=[{"role": "user", "content": "Filler text here. What is the code?"}],
        )
    assert response.choices[0].message.content == "unsure"
    assert "No passage" in fake.bodies[-1]["messages"][0]["content"]


@pytest.mark.anyio
async def test_too_many_chunks_for_the_budget_is_refused_before_any_call() -> None:
    fake = FakeUpstream(scripted)
    app = make_app(fake, [memory_plugin], max_upstream_calls=5)
    async with openai_client(app) as client:
        with pytest.raises(openai.RateLimitError) as raised:
            await client.chat.completions.create(
                model="memory-fake-model",
                messages=[{"role": "user", "content": "x " * 10_000 + "Query: why?"}],
                extra_body={"chunk_size": 1000},
            )
    assert "upstream calls" in raised.value.message
    assert fake.call_count == 0
