"""``readurls&memory-<model>`` end to end: the real openai client → our server on a loopback
port → FakeUpstream over HTTP, with the linked page served on loopback too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from readurls_site import serve_site

from optillm_core.testing import FakeUpstream, served_proxy
from optillm_memory import plugin as memory_plugin
from optillm_memory.notes import EXTRACT_SYSTEM
from optillm_readurls import plugin as readurls_plugin

FACT = "Revenue grew by 12 percent in the third quarter."


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, int]]:
    with serve_site() as served:
        yield served


def scripted(body: dict[str, Any]) -> str:
    user = body["messages"][-1]["content"]
    if body["messages"][0]["content"] == EXTRACT_SYSTEM:
        return f"YES#{FACT}" if FACT in user else "NO#"
    return "Answer: 12 percent." if FACT in user else "Answer: unknown."


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_readurls_and_memory_over_loopback(site: tuple[str, int], stream: bool) -> None:
    root, port = site
    fake = FakeUpstream(scripted)
    options = {"readurls": {"allow_hosts": [f"127.0.0.1:{port}"]}, "memory": {"chunk_size": 400}}
    question = f"Here is the report: {root}/page Query: How much did revenue grow?"
    async with served_proxy(
        fake, [readurls_plugin, memory_plugin], plugin_options=options
    ) as proxy:
        response = await proxy.client.chat.completions.create(
            model="readurls&memory-fake-model",
            messages=[{"role": "user", "content": question}],
            stream=stream,
        )
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in response if c.choices])
        else:
            text = response.choices[0].message.content or ""
    assert text == "Answer: 12 percent."
    extractions = [b for b in fake.bodies if b["messages"][0]["content"] == EXTRACT_SYSTEM]
    assert len(extractions) == fake.call_count - 1 >= 1
    assert any(FACT in b["messages"][1]["content"] for b in extractions)
    final = fake.bodies[-1]["messages"]
    assert final[-1]["content"].endswith("Question: How much did revenue grow?")
    assert "North | 4.2" not in final[-1]["content"]  # the page itself stays out of the answer
    assert all(b["model"] == "fake-model" for b in fake.bodies)
    if not stream:
        assert response.usage.prompt_tokens == fake.prompt_tokens_served
