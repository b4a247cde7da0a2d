"""Approaches run over the litellm upstream: an approach prefix in front of a LiteLLM model
string, several upstream calls per request, none of them with native ``n``."""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest
from litellm_testkit import PROVIDER_KEY, proxy

from optillm_core.testing import FakeUpstream

QUESTION = [{"role": "user", "content": "Name a prime number between 10 and 20."}]
RATINGS = {"eleven": "6", "thirteen": "9", "fifteen": "1"}


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PROVIDER_KEY)


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


BON = _optional("optillm_bon.plugin")
BON_RATING = _optional("optillm_bon.rating")


def _judge(body: dict[str, Any]) -> str:
    messages = body["messages"]
    if BON_RATING is not None and messages[-1]["content"] == BON_RATING.RATING_REQUEST:
        return RATINGS[messages[-2]["content"]]
    return "eleven"


@pytest.mark.anyio
async def test_multi_call_approach_by_model_prefix() -> None:
    """``bon`` when optillm-bon is installed (3 candidates + 3 ratings), else the template's
    ``example_echo`` with ``n=2`` (2 calls fanned out by the core)."""
    fake = FakeUpstream(_judge)
    if BON is not None:
        fake.enqueue("eleven", "thirteen", "fifteen")
        async with proxy(fake, (BON,)) as client:
            reply = await client.chat.completions.create(
                model="bon-openai/fake-model", messages=QUESTION
            )
        assert reply.choices[0].message.content == "thirteen"
        assert fake.call_count == 6
    else:
        from optillm_example import plugin as example

        async with proxy(fake, (example,)) as client:
            reply = await client.chat.completions.create(
                model="example_echo-openai/fake-model", messages=QUESTION, n=2
            )
        assert [c.message.content for c in reply.choices] == ["eleven", "eleven"]
        assert fake.call_count == 2
    assert {body["model"] for body in fake.bodies} == {"fake-model"}
    assert all((body.get("n") or 1) == 1 for body in fake.bodies)
    assert reply.usage is not None
    assert reply.usage.total_tokens == fake.prompt_tokens_served + fake.completion_tokens_served
