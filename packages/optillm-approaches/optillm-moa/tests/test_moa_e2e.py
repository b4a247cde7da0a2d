"""End to end: the real ``openai`` client -> the proxy on a loopback port -> FakeUpstream over
HTTP, selecting ``moa`` by model prefix, by ``optillm_approach`` and by a system-message tag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from optillm_core.models import message_text
from optillm_core.testing import FakeUpstream, make_app, serve_app
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
async def served() -> AsyncIterator[tuple[FakeUpstream, openai.AsyncOpenAI]]:
    fake = FakeUpstream(_reply, latency=0.02)
    async with fake.serve() as upstream_url:
        app = make_app(fake, [plugin], base_url=upstream_url)
        async with serve_app(app) as proxy_url:
            client = openai.AsyncOpenAI(base_url=proxy_url, api_key="k", max_retries=0)
            async with client:
                yield fake, client


SELECTIONS: dict[str, dict[str, Any]] = {
    "model prefix": {"model": "moa-fake-model"},
    "body field": {"model": "fake-model", "extra_body": {"optillm_approach": "moa"}},
    "system tag": {
        "model": "fake-model",
        "system": "Be terse. <optillm_approach>moa</optillm_approach>",
    },
}


@pytest.mark.anyio
@pytest.mark.parametrize("selection", list(SELECTIONS))
@pytest.mark.parametrize("stream", [False, True])
async def test_moa_over_http(
    served: tuple[FakeUpstream, openai.AsyncOpenAI], selection: str, stream: bool
) -> None:
    fake, client = served
    options = dict(SELECTIONS[selection])
    messages = [{"role": "user", "content": QUESTION}]
    system = options.pop("system", None)
    if system:
        messages.insert(0, {"role": "system", "content": system})
    raw = await client.chat.completions.with_raw_response.create(
        messages=messages, stream=stream, **options
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
    if system:
        assert all(
            body["messages"][0] == {"role": "system", "content": "Be terse."}
            for body in fake.bodies
        )
