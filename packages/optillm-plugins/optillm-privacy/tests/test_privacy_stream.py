"""Streamed de-anonymization: placeholders split across chunks come back whole, and only a
possible placeholder prefix is ever held back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from privacy_testkit import PII, PLACEHOLDER, SHARED

from optillm_core import Approach, ApproachResult, RequestContext, hookimpl
from optillm_core.testing import FakeUpstream, make_app, openai_client
from optillm_privacy.placeholders import PlaceholderMap, StreamRestorer
from optillm_privacy.restore import restore_stream


@pytest.fixture(autouse=True, scope="module")
def _warm_analyzer() -> None:
    SHARED.processor.warm()


def _mapping() -> tuple[PlaceholderMap, str, str]:
    mapping = PlaceholderMap(tag="abc123")
    email = mapping.placeholder("EMAIL_ADDRESS", "a@example.com")
    name = mapping.placeholder("PERSON", "Ann Lee")
    return mapping, email, name


def test_every_split_position_restores_the_same_text() -> None:
    mapping, email, name = _mapping()
    text = f"Write to {email}, said {name}<{email}> a<b"
    expected = "Write to a@example.com, said Ann Lee<a@example.com> a<b"
    for first in range(len(text) + 1):
        for second in range(first, len(text) + 1, 7):
            restorer = StreamRestorer(mapping)
            pieces = [text[:first], text[first:second], text[second:]]
            out = "".join(restorer.feed(("c",), piece) for piece in pieces)
            out += restorer.flush(("c",))
            assert out == expected, (first, second)


def test_only_a_possible_placeholder_prefix_is_held_back() -> None:
    mapping, email, _ = _mapping()
    restorer = StreamRestorer(mapping)
    assert restorer.feed((0,), "x <= 5 and y") == "x <= 5 and y"
    assert restorer.feed((0,), " then " + email[:9]) == " then "
    assert restorer.feed((0,), email[9:] + " ok") == "a@example.com ok"
    assert restorer.feed((0,), " <b>") == " <b>"
    assert restorer.pending_keys() == []


def test_unknown_placeholders_are_left_alone() -> None:
    mapping, _, _ = _mapping()
    assert mapping.restore("<PERSON_9_abc123> <PERSON_1_ffffff>") == (
        "<PERSON_9_abc123> <PERSON_1_ffffff>"
    )


async def _chunks(pieces: list[tuple[int, str]], finish: bool) -> AsyncIterator[dict[str, Any]]:
    for index, piece in pieces:
        yield {"choices": [{"index": index, "delta": {"content": piece}, "finish_reason": None}]}
    if finish:
        for index in sorted({i for i, _ in pieces}):
            yield {"choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]}


@pytest.mark.anyio
@pytest.mark.parametrize("finish", [True, False])
async def test_interleaved_choices_are_restored_separately(finish: bool) -> None:
    mapping, email, name = _mapping()
    pieces = [(0, "to " + email[:5]), (1, "hi " + name[:3]), (0, email[5:]), (1, name[3:-1])]
    pieces.append((1, name[-1:]))
    texts: dict[int, str] = {0: "", 1: ""}
    async for chunk in restore_stream(_chunks(pieces, finish), mapping):
        for item in chunk["choices"]:
            texts[item["index"]] += item["delta"].get("content") or ""
    assert texts == {0: "to a@example.com", 1: "hi Ann Lee"}


class Chunky(Approach):
    """Streams its upstream answer back in three-character pieces (cuts placeholders)."""

    slug = "chunky"
    summary = "Test stage: re-chunks the upstream stream into 3-character deltas."

    async def run(self, ctx: RequestContext) -> ApproachResult:
        body = {"model": ctx.model, "messages": ctx.messages}
        return ApproachResult(stream=self._rechunk(ctx.stream(body)))

    async def _rechunk(
        self, stream: AsyncIterator[dict[str, Any]]
    ) -> AsyncIterator[dict[str, Any]]:
        text = ""
        async for chunk in stream:
            for item in chunk.get("choices") or []:
                text += (item.get("delta") or {}).get("content") or ""
        for start in range(0, len(text), 3):
            piece = text[start : start + 3]
            yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


class ChunkyPlugin:
    @hookimpl
    def register_approaches(self, register: Callable[[Any], None]) -> None:
        register(Chunky())


@pytest.mark.anyio
async def test_placeholders_cut_across_chunks_reach_the_client_whole() -> None:
    def reply(body: dict[str, Any]) -> str:
        found = PLACEHOLDER.findall(body["messages"][-1]["content"])
        return "Contact " + " and ".join(found) + " today."

    fake = FakeUpstream(reply)
    question = f"Is {PII['email']} the same person as {PII['phone']} and {PII['ip']}?"
    async with openai_client(make_app(fake, [SHARED, ChunkyPlugin()])) as client:
        stream = await client.chat.completions.create(
            model="privacy&chunky-fake-model",
            messages=[{"role": "user", "content": question}],
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    text = "".join(pieces)
    assert text == f"Contact {PII['email']} and {PII['phone']} and {PII['ip']} today."
    assert not any(PLACEHOLDER.search(piece) for piece in pieces)
    assert PII["email"] not in str(fake.bodies)
