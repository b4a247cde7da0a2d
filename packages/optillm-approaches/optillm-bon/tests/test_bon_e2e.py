"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``bon`` by model prefix, by ``optillm_approach`` and by a system-message tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from optillm_bon import plugin
from optillm_bon.rating import RATING_REQUEST
from optillm_core.testing import FakeUpstream, make_app, serve_app

QUESTION = "Name a prime number between 10 and 20."
RATINGS = {"eleven": "Score: 6", "thirteen": "Rating: 9/10", "fifteen": "1"}


def _reply(body: dict[str, Any]) -> str:
    messages = body["messages"]
    if messages[-1]["content"] == RATING_REQUEST:
        return RATINGS[messages[-2]["content"]]
    return "eleven"


@pytest.fixture
async def served() -> AsyncIterator[tuple[FakeUpstream, openai.AsyncOpenAI]]:
    fake = FakeUpstream(_reply, latency=0.02)
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with serve_app(app) as proxy_url:
            client = openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0)
            async with client:
                yield fake, client


SELECTIONS: dict[str, dict[str, Any]] = {
    "model prefix": {"model": "bon-fake-model"},
    "body field": {"model": "fake-model", "extra_body": {"optillm_approach": "bon"}},
    "system tag": {
        "model": "fake-model",
        "system": "Be terse. <optillm_approach>bon</optillm_approach>",
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("selection", list(SELECTIONS))
async def test_bon_over_http(
    served: tuple[FakeUpstream, openai.AsyncOpenAI], selection: str
) -> None:
    fake, client = served
    fake.enqueue("eleven", "thirteen", "fifteen")
    options = dict(SELECTIONS[selection])
    messages = [{"role": "user", "content": QUESTION}]
    system = options.pop("system", None)
    if system:
        messages.insert(0, {"role": "system", "content": system})
    raw = await client.chat.completions.with_raw_response.create(messages=messages, **options)
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "bon"
    assert response.choices[0].message.content == "thirteen"
    assert fake.call_count == 4
    assert fake.dependent_rounds() == 2
    assert all(body["model"] == "fake-model" for body in fake.bodies)
    assert all("optillm_approach" not in body for body in fake.bodies)
    sent = [m["content"] for body in fake.bodies for m in body["messages"]]
    assert not any("optillm_approach" in text for text in sent)
    if system:
        assert fake.bodies[0]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert response.usage.prompt_tokens == fake.prompt_tokens_served
    assert response.usage.completion_tokens == fake.completion_tokens_served
