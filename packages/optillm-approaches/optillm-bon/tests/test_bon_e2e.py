"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``bon`` by model prefix, by ``optillm_approach`` and by a system-message tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from optillm_bon import plugin
from optillm_bon.rating import RATING_REQUEST
from optillm_core.testing import (
    SELECTION_WAYS,
    FakeUpstream,
    SelectionWay,
    ServedProxy,
    selection_kwargs,
    served_proxy,
)

QUESTION = "Name a prime number between 10 and 20."
RATINGS = {"eleven": "Score: 6", "thirteen": "Rating: 9/10", "fifteen": "1"}


def _reply(body: dict[str, Any]) -> str:
    messages = body["messages"]
    if messages[-1]["content"] == RATING_REQUEST:
        return RATINGS[messages[-2]["content"]]
    return "eleven"


@pytest.fixture
async def served() -> AsyncIterator[ServedProxy]:
    async with served_proxy(FakeUpstream(_reply, latency=0.02), [plugin]) as proxy:
        yield proxy


@pytest.mark.anyio
@pytest.mark.parametrize("way", SELECTION_WAYS)
async def test_bon_over_http(served: ServedProxy, way: SelectionWay) -> None:
    fake, client = served.fake, served.client
    fake.enqueue("eleven", "thirteen", "fifteen")
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": QUESTION}]
    options = selection_kwargs("bon", way, messages)
    raw = await client.chat.completions.with_raw_response.create(**options)
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "bon"
    assert response.choices[0].message.content == "thirteen"
    assert fake.call_count == 4
    assert fake.dependent_rounds() == 2
    assert all(body["model"] == "fake-model" for body in fake.bodies)
    assert all("optillm_approach" not in body for body in fake.bodies)
    sent = [m["content"] for body in fake.bodies for m in body["messages"]]
    assert not any("optillm_approach" in text for text in sent)
    assert fake.bodies[0]["messages"][0] == messages[0]
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.usage.completion_tokens == fake.completion_tokens_served
