"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``moa`` by model prefix, by ``optillm_approach`` and by a system-message tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from optillm_core.models import message_text
from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    SelectionWay,
    ServedProxy,
    selection_kwargs,
    served_proxy,
)
from optillm_moa import plugin

QUESTION = "Why is the sky blue?"
FINAL = "Rayleigh scattering: air molecules scatter blue light most."


def _reply(body: dict[str, Any]) -> str:
    text = message_text(body["messages"][-1])
    if "Do not answer the request yourself" in text:
        return "Draft 1 is right; draft 2 confuses reflection with scattering."
    if "write the single best response" in text:
        return FINAL
    return "A draft about scattering."


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream(_reply, latency=0.02), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
@pytest.mark.parametrize("stream", [False, True])
async def test_moa_over_http(served: ServedProxy, way: SelectionWay, stream: bool) -> None:
    fake, client = served.fake, served.client
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": QUESTION}]
    raw = await client.chat.completions.with_raw_response.create(
        stream=stream, **selection_kwargs("moa", way, messages)
    )
    assert raw.headers["x-optillm-approach"] == "moa"
    if stream:
        chunks = [chunk async for chunk in raw.parse()]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        response = raw.parse()
        text = response.choices[0].message.content
        assert response.usage.completion_tokens == fake.completion_tokens_served
    assert text == FINAL
    assert fake.call_count == 3
    assert fake.dependent_rounds() == 3
    assert all(body["model"] == "fake-model" for body in fake.bodies)
    sent = [message_text(m) for body in fake.bodies for m in body["messages"]]
    assert not any("optillm_approach" in text for text in sent)
    assert all(body["messages"][0] == messages[0] for body in fake.bodies)
