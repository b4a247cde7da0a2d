"""``moa`` composed with other approaches: ``bon|moa`` branches and the ``moa&self_consistency``
pipeline (needs optillm-bon and optillm-self-consistency, the ``test`` extra)."""

from __future__ import annotations

from typing import Any

import pytest

from optillm_bon import plugin as bon_plugin
from optillm_bon.rating import RATING_REQUEST
from optillm_core.models import message_text
from optillm_core.testing import FakeUpstream, make_app, openai_client
from optillm_moa import plugin as moa_plugin
from optillm_self_consistency import plugin as sc_plugin

QUESTION = "What is 6 times 7?"
MOA_FINAL = "Six sevens make forty-two, so the answer is 42."
BON_DRAFTS = ("bon: 41", "bon: 42", "bon: 43")


class Script:
    """bon's drafts (n=3) cycle through BON_DRAFTS and only "bon: 42" rates well; moa runs with
    two drafts here (n=2), so the two branches' draft calls can be told apart."""

    def __init__(self) -> None:
        self.drawn = 0

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        text = message_text(messages[-1])
        if text == RATING_REQUEST:
            return "Rating: 9/10" if message_text(messages[-2]) == "bon: 42" else "2"
        if body.get("n") == 3 and text == QUESTION:
            self.drawn += 1
            return BON_DRAFTS[(self.drawn - 1) % 3]
        return _reply(body)


def _reply(body: dict[str, Any]) -> str:
    text = message_text(body["messages"][-1])
    if "Do not answer the request yourself" in text:
        return "The drafts agree."
    if "write the single best response" in text:
        return MOA_FINAL
    if text == MOA_FINAL:  # self_consistency sampling on moa's answer
        return "Checked: \\boxed{42}"
    return "moa draft: 42"


async def ask(fake: FakeUpstream, model: str, **kw: Any) -> Any:
    app = make_app(fake, [bon_plugin, moa_plugin, sc_plugin])
    async with openai_client(app) as client:
        return await client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], **kw
        )


@pytest.mark.anyio
@pytest.mark.parametrize("n", [1, 2])
async def test_bon_or_moa_returns_one_choice_per_branch_branch_major(n: int) -> None:
    fake = FakeUpstream(Script())
    moa_drafts = {"optillm": {"moa": {"candidates": 2}}}
    raw = await ask(fake, "bon|moa-fake-model", n=n, extra_body=moa_drafts)
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "bon|moa"
    contents = [choice.message.content for choice in response.choices]
    assert contents == ["bon: 42"] * n + [MOA_FINAL] * n
    assert [choice.index for choice in response.choices] == list(range(2 * n))
    assert fake.call_count == n * (4 + 3)  # each copy: bon 1 + 3 ratings, moa 3 rounds
    assert response.usage.completion_tokens == fake.completion_tokens_served
    assert response.usage.prompt_tokens == fake.prompt_tokens_served


@pytest.mark.anyio
async def test_moa_then_self_consistency_gets_moa_answer_as_last_user_message() -> None:
    fake = FakeUpstream(_reply, latency=0.02)
    raw = await ask(fake, "fake-model", extra_body={"optillm_approach": "moa&self_consistency"})
    response = raw.parse()
    assert raw.headers["x-optillm-approach"] == "moa&self_consistency"
    assert response.choices[0].message.content == "Checked: \\boxed{42}"
    sc_calls = [b for b in fake.bodies if message_text(b["messages"][-1]) == MOA_FINAL]
    assert len(sc_calls) == 1
    assert sc_calls[0]["n"] == 5
    assert sc_calls[0]["messages"] == [{"role": "user", "content": MOA_FINAL}]
    assert fake.call_count == 4  # moa: drafts, critique, final; self_consistency: one n=5 call
    assert fake.dependent_rounds() == 4
    assert response.usage.completion_tokens == fake.completion_tokens_served
