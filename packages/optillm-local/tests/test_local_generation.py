"""OpenAI semantics of the local engine: n, logprobs, stop, length, seeds, penalties, streaming."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from local_engine_helpers import chat, eos_ban, texts

from optillm_core import InvalidRequestError
from optillm_local import LocalUpstream, generation
from optillm_local.cache import ModelCache
from optillm_local.prompt import prompt_ids
from optillm_local.request import ModelRef

pytestmark = pytest.mark.anyio


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every ``generate`` call as (rows, new-token budget)."""
    seen: list[tuple[int, int]] = []
    real = generation._run_generate

    def spy(ctx: Any, input_ids: torch.Tensor, budget: int, chain: Any, tracker: Any) -> None:
        seen.append((int(input_ids.shape[0]), budget))
        real(ctx, input_ids, budget, chain, tracker)

    monkeypatch.setattr(generation, "_run_generate", spy)
    return seen


async def test_n_choices_come_from_one_batched_generate(
    upstream: LocalUpstream, model: str, calls: list[tuple[int, int]]
) -> None:
    body = chat(model, n=4, max_tokens=6, seed=3, **eos_ban())
    out = await upstream.create(body)
    assert calls == [(4, 6)]
    assert [c["index"] for c in out["choices"]] == [0, 1, 2, 3]
    assert len(set(texts(out))) > 1, "sampled rows should differ"
    assert out["usage"]["completion_tokens"] == 4 * 6
    assert out["object"] == "chat.completion"


async def test_usage_counts_the_prompt_once(
    upstream: LocalUpstream, model: str, shared_cache: ModelCache
) -> None:
    out = await upstream.create(chat(model, n=2, max_tokens=3, **eos_ban()))
    loaded = shared_cache.get(ModelRef.parse(model))
    expected = len(prompt_ids(loaded.tokenizer, [{"role": "user", "content": "hello world"}]))
    usage = out["usage"]
    assert usage["prompt_tokens"] == expected
    assert usage["total_tokens"] == expected + 6


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The rows (with their token ids) of every generation."""
    seen: list[Any] = []
    real = generation.generate_rows

    def spy(ctx: Any, **options: Any) -> Any:
        out = real(ctx, **options)
        seen.extend(out)
        return out

    monkeypatch.setattr(generation, "generate_rows", spy)
    return seen


async def test_logprobs_follow_openai_format_and_match_the_model(
    upstream: LocalUpstream, model: str, shared_cache: ModelCache, rows: list[Any]
) -> None:
    body = chat(model, max_tokens=8, temperature=0.8, seed=5, logprobs=True, top_logprobs=3)
    out = await upstream.create({**body, **eos_ban()})
    content = out["choices"][0]["logprobs"]["content"]
    assert len(content) == out["usage"]["completion_tokens"] == 8
    loaded = shared_cache.get(ModelRef.parse(model))
    prompt = prompt_ids(loaded.tokenizer, body["messages"])
    ids = rows[0].tokens
    full = torch.tensor([prompt + ids])
    with torch.no_grad():
        reference = torch.log_softmax(loaded.model(full).logits[0].float(), dim=-1)
    for i, entry in enumerate(content):
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert len(entry["top_logprobs"]) == 3
        tops = [t["logprob"] for t in entry["top_logprobs"]]
        assert tops == sorted(tops, reverse=True)
        assert sum(math.exp(t) for t in tops) <= 1.0 + 1e-6
        assert entry["logprob"] <= tops[0] + 1e-6
        assert bytes(entry["bytes"]).decode("utf-8", "replace") == entry["token"]
        step = reference[len(prompt) + i - 1]
        assert entry["logprob"] == pytest.approx(float(step[ids[i]]), abs=1e-4)
        best = torch.topk(step, 3)
        assert tops == pytest.approx(best.values.tolist(), abs=1e-4)
    assert bytes(b for e in content for b in e["bytes"]).decode("utf-8", "replace") == texts(out)[0]


async def test_logprobs_are_independent_of_temperature(upstream: LocalUpstream, model: str) -> None:
    greedy = await upstream.create(chat(model, max_tokens=4, temperature=0, logprobs=True))
    first = greedy["choices"][0]["logprobs"]["content"][0]
    hot = await upstream.create(
        chat(model, max_tokens=1, temperature=1.5, logprobs=True, top_logprobs=1, seed=1)
    )
    top = hot["choices"][0]["logprobs"]["content"][0]["top_logprobs"][0]
    assert top["token"] == first["token"]
    assert top["logprob"] == pytest.approx(first["logprob"], abs=1e-5)


async def test_seed_reproduces_and_differs_across_seeds(
    upstream: LocalUpstream, model: str
) -> None:
    body = chat(model, n=2, max_tokens=8, temperature=1.0, **eos_ban())
    a = texts(await upstream.create({**body, "seed": 11}))
    b = texts(await upstream.create({**body, "seed": 11}))
    c = texts(await upstream.create({**body, "seed": 12}))
    assert a == b
    assert a != c


async def test_greedy_is_deterministic(upstream: LocalUpstream, model: str) -> None:
    body = chat(model, max_tokens=8, temperature=0, **eos_ban())
    assert texts(await upstream.create(body)) == texts(await upstream.create(body))


async def test_stop_applies_to_every_sample(upstream: LocalUpstream, model: str) -> None:
    body = chat(model, n=4, max_tokens=12, seed=21, **eos_ban())
    free = texts(await upstream.create(body))
    stops = sorted({t[3:5] for t in free if len(t) >= 5})[:4]
    stopped = await upstream.create({**body, "stop": stops})
    cut_rows = 0
    for plain, choice in zip(free, stopped["choices"], strict=True):
        hits = [plain.find(s) for s in stops if plain.find(s) >= 0]
        if hits:
            cut_rows += 1
            assert choice["message"]["content"] == plain[: min(hits)]
            assert choice["finish_reason"] == "stop"
        else:
            assert choice["message"]["content"] == plain
            assert choice["finish_reason"] == "length"
    assert cut_rows >= 2


async def test_length_and_eos_finish_reasons(upstream: LocalUpstream, model: str) -> None:
    long = await upstream.create(chat(model, max_tokens=5, **eos_ban()))
    assert long["choices"][0]["finish_reason"] == "length"
    assert long["usage"]["completion_tokens"] == 5
    ended = await upstream.create(chat(model, max_tokens=5, logit_bias={"2": 100}))
    assert ended["choices"][0]["finish_reason"] == "stop"
    assert ended["choices"][0]["message"]["content"] == ""
    assert ended["usage"]["completion_tokens"] == 1


async def test_max_completion_tokens_is_honoured(upstream: LocalUpstream, model: str) -> None:
    out = await upstream.create(chat(model, max_completion_tokens=3, **eos_ban()))
    assert out["usage"]["completion_tokens"] == 3


async def test_frequency_penalty_grows_with_each_repeat(
    upstream: LocalUpstream, model: str, rows: list[Any]
) -> None:
    body = chat(model, max_tokens=12, temperature=0, logit_bias={"2": -100, "50": 8})
    await upstream.create(body)
    await upstream.create({**body, "presence_penalty": 2.0})
    await upstream.create({**body, "frequency_penalty": 2.0})
    plain, presence, frequency = (row.tokens.count(50) for row in rows)
    assert plain == 12, "the bias alone makes token 50 win every step"
    assert presence == 12, "a one-off presence penalty of 2 does not beat a bias of 8"
    assert 2 <= frequency <= 6, "the frequency penalty adds up until other tokens win"


async def test_streaming_yields_text_as_it_is_generated(
    upstream: LocalUpstream, model: str
) -> None:
    body = chat(model, n=2, max_tokens=10, seed=4, logprobs=True, **eos_ban())
    whole = await upstream.create(body)
    pieces: dict[int, list[str]] = {0: [], 1: []}
    logprob_counts = {0: 0, 1: 0}
    finishes: dict[int, str] = {}
    usage = None
    chunks = 0
    async for chunk in upstream.stream(body):
        chunks += 1
        assert chunk["object"] == "chat.completion.chunk"
        for choice in chunk["choices"]:
            content = choice["delta"].get("content")
            if content:
                pieces[choice["index"]].append(content)
            if choice.get("logprobs"):
                logprob_counts[choice["index"]] += len(choice["logprobs"]["content"])
            if choice["finish_reason"]:
                finishes[choice["index"]] = choice["finish_reason"]
        usage = chunk.get("usage") or usage
    assert chunks > 4, "one chunk per step, not one at the end"
    assert ["".join(pieces[i]) for i in (0, 1)] == texts(whole)
    assert max(len(p) for p in pieces.values()) > 2
    assert finishes == {0: "length", 1: "length"}
    assert logprob_counts == {0: 10, 1: 10}
    assert usage == whole["usage"]


async def test_streaming_holds_back_a_partial_stop_string(
    upstream: LocalUpstream, model: str
) -> None:
    body = chat(model, max_tokens=12, temperature=0, **eos_ban())
    plain = texts(await upstream.create(body))[0]
    stop = plain[4:7]
    streamed = ""
    async for chunk in upstream.stream({**body, "stop": [stop]}):
        for choice in chunk["choices"]:
            streamed += choice["delta"].get("content") or ""
    assert streamed == plain[: plain.find(stop)]
    assert stop not in streamed


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 40}, "top_logprobs"),
        ({"temperature": 3}, "temperature"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"decoding": "nope"}, "decoding"),
        ({"decoding": "cot_decoding", "k": 0}, "k"),
        ({"active_adapter": "x"}, "active_adapter"),
    ],
)
async def test_bad_requests_are_400(
    upstream: LocalUpstream, model: str, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(model, max_tokens=2, **extra))
    assert info.value.status == 400
    assert info.value.param == param


async def test_image_parts_are_refused(upstream: LocalUpstream, model: str) -> None:
    body = {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            }
        ],
    }
    with pytest.raises(InvalidRequestError, match="image_url"):
        await upstream.create(body)
