"""Decoders: cot_decoding (batched branches, aligned confidence, answer aggregation) and
entropy_decoding (regimes, min_p, clarification from the tokenizer), plus third-party ones."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from local_engine_helpers import DECODERS, chat, eos_ban, texts

from optillm_core import InvalidRequestError
from optillm_local import LocalConfig, LocalUpstream, generation
from optillm_local.cache import ModelCache
from optillm_local.decoders import DecodeContext, DecodeResult
from optillm_local.decoders.cot import Path, aggregate, answer_span, first_tokens, path_confidence
from optillm_local.decoders.entropy import EntropyParams, EntropySelector
from optillm_local.decoders.regimes import Knobs, Regime, classify, entropy_varentropy, knobs_for
from optillm_local.prompt import prompt_ids
from optillm_local.request import ModelRef
from optillm_local.sampling import draw, filter_logits

pytestmark = pytest.mark.anyio


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ``generate`` call's rows (token ids, margins) and batch size."""
    seen: list[Any] = []
    real = generation.generate_rows

    def spy(ctx: Any, **options: Any) -> Any:
        rows = real(ctx, **options)
        seen.append(rows)
        return rows

    monkeypatch.setattr(generation, "generate_rows", spy)
    return seen


# -- cot_decoding: pure parts -----------------------------------------------------------------


def test_confidence_is_averaged_over_the_answer_tokens() -> None:
    margins = [0.1, 0.2, 0.9, 0.7, 0.3]
    ends = [3, 6, 8, 9, 10]  # token i covers text[ends[i-1]:ends[i]]
    text = "abcdefgh42!"[:10]
    span = answer_span(text, text[6:9])
    assert span == (6, 9)
    assert path_confidence(margins, ends, span) == pytest.approx((0.9 + 0.7) / 2)
    assert path_confidence(margins, ends, None) == pytest.approx(sum(margins) / 5)
    assert path_confidence([], [], None) == 0.0


def test_paths_aggregate_by_extracted_answer() -> None:
    paths = [
        Path("so the answer is 5", "stop", 0.30, "5", "5", 5),
        Path("The answer is \\boxed{5.0}", "stop", 0.35, "5.0", "5", 5),
        Path("I think it's 7", "stop", 0.50, "7", "7", 5),
    ]
    ranked = aggregate(paths, by_answer=True)
    assert ranked[0].text == "The answer is \\boxed{5.0}", "0.30 + 0.35 for '5' beats 0.50"
    assert [p.key for p in ranked] == ["5", "7", "5"]
    assert aggregate(paths, by_answer=False)[0].answer == "7"
    unsure = Path("hmm", "length", 0.90, None, "text:hmm", 5)
    assert aggregate([unsure, *paths], by_answer=True)[0].answer == "5.0"
    assert aggregate([unsure, *paths], by_answer=False)[-1] is unsure


def test_first_tokens_skip_end_of_sequence() -> None:
    logits = torch.tensor([0.0, 5.0, 9.0, 3.0, 4.0])
    assert first_tokens(logits, 3, frozenset({2})) == [1, 4, 3]


# -- cot_decoding through the engine ----------------------------------------------------------


async def test_cot_branches_are_one_batch_with_aligned_confidence(
    upstream: LocalUpstream, model: str, shared_cache: ModelCache, calls: list[Any]
) -> None:
    body = chat(model, "What is 2 + 3?", decoding="cot_decoding", k=4, max_tokens=6)
    out = await upstream.create({**body, "decoding_stats": True, **eos_ban()})
    assert len(calls) == 1 and len(calls[0]) == 4, "the k branches are rows of one generate"
    rows = calls[0]
    assert len({row.tokens[0] for row in rows}) == 4, "each branch starts with its own token"
    stats = out["choices"][0]["optillm_decoding"]
    assert stats["decoding"] == "cot_decoding"
    assert len(stats["paths"]) == 4
    assert out["usage"]["completion_tokens"] == sum(len(r.tokens) for r in rows) == 24
    # margins are the top-1 minus top-2 probabilities of the distribution each token came from
    loaded = shared_cache.get(ModelRef.parse(model))
    prompt = prompt_ids(loaded.tokenizer, body["messages"])
    row = rows[0]
    with torch.no_grad():
        probs = torch.softmax(loaded.model(torch.tensor([prompt + row.tokens])).logits[0], -1)
    top = torch.topk(probs, 2, dim=-1).values
    expected = (top[:, 0] - top[:, 1])[len(prompt) - 1 : len(prompt) - 1 + len(row.tokens)]
    assert row.margins == pytest.approx(expected.tolist(), abs=1e-5)
    best = max(stats["paths"], key=lambda p: p["confidence"])
    assert stats["confidence"] == pytest.approx(best["confidence"])


async def test_cot_returns_n_ranked_paths_and_supports_beams(
    upstream: LocalUpstream, model: str
) -> None:
    body = chat(model, "What is 2 + 3?", decoding="cot_decoding", k=3, max_tokens=5, n=2)
    out = await upstream.create({**body, **eos_ban()})
    assert len(out["choices"]) == 2
    assert texts(out)[0] != texts(out)[1]
    beams = await upstream.create({**body, "n": 1, "num_beams": 2, "decoding_stats": True})
    assert len(beams["choices"][0]["optillm_decoding"]["paths"]) == 3


async def test_cot_sequential_batches_give_the_same_paths(
    upstream: LocalUpstream, model: str, calls: list[Any]
) -> None:
    body = chat(model, "2+2?", decoding="cot_decoding", k=3, max_tokens=5, decoding_stats=True)
    batched = await upstream.create({**body, **eos_ban()})
    sequential = await upstream.create({**body, "batch_size": 1, **eos_ban()})
    assert [len(c) for c in calls] == [3, 1, 1, 1]
    assert texts(batched) == texts(sequential)
    paths = [p["confidence"] for p in batched["choices"][0]["optillm_decoding"]["paths"]]
    again = [p["confidence"] for p in sequential["choices"][0]["optillm_decoding"]["paths"]]
    assert paths == pytest.approx(again, abs=1e-5)


# -- entropy_decoding: pure parts -------------------------------------------------------------


def test_entropy_and_varentropy_in_bits() -> None:
    assert entropy_varentropy([1.0, 0.0]) == (0.0, 0.0)
    h, v = entropy_varentropy([1 / 16] * 16)
    assert h == pytest.approx(4.0)
    assert v == pytest.approx(0.0, abs=1e-12)
    h, v = entropy_varentropy([0.5, 0.25, 0.25])
    assert h == pytest.approx(1.5)
    assert v == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("entropy", "varentropy", "regime"),
    [
        (0.05, 0.05, Regime.ARGMAX),
        (4.0, 0.01, Regime.CLARIFY),
        (2.0, 6.0, Regime.EXPLORE),
        (6.0, 6.0, Regime.HIGH_UNCERTAINTY),
        (2.0, 1.0, Regime.ADAPTIVE),
        (0.05, 1.0, Regime.ADAPTIVE),
    ],
)
def test_regimes(entropy: float, varentropy: float, regime: Regime) -> None:
    assert classify(entropy, varentropy) is regime


def test_knobs_follow_the_uncertainty() -> None:
    base = Knobs(0.7, 0.9, 27, 0.03)
    calm = knobs_for(Regime.ADAPTIVE, 0.5, 0.5, base)
    wild = knobs_for(Regime.ADAPTIVE, 4.0, 4.0, base)
    assert calm.temperature < wild.temperature <= 2.0
    assert wild.min_p < calm.min_p
    assert knobs_for(Regime.HIGH_UNCERTAINTY, 6, 6, base).temperature >= 2.0
    assert knobs_for(Regime.EXPLORE, 2, 6, base).top_k == 54


def test_min_p_really_filters() -> None:
    probs = torch.tensor([[0.60, 0.37, 0.03]])
    logits = probs.log()
    kept = filter_logits(logits, min_p=0.06)
    assert torch.isinf(kept[0, 2]) and not torch.isinf(kept[0, 1])
    generator = torch.Generator().manual_seed(0)
    drawn = draw(kept, generator, samples=2000)[0].tolist()
    assert 2 not in drawn and 1 in drawn
    unfiltered = draw(filter_logits(logits, min_p=0.0), generator, samples=2000)[0].tolist()
    assert 2 in unfiltered


def test_top_k_and_top_p_filter() -> None:
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    nucleus = filter_logits(torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log(), top_p=0.7)
    assert torch.isfinite(nucleus[0, :2]).all() and torch.isinf(nucleus[0, 2:]).all()


def test_selector_regimes_on_crafted_logits() -> None:
    params = EntropyParams(seed=0)
    selector = EntropySelector(params, torch.Generator().manual_seed(0), [41, 42], rows=2)
    sure = torch.full((8,), -30.0)
    sure[5] = 10.0
    unsure = torch.zeros(64)  # uniform: 6 bits of entropy, no varentropy
    scores = torch.stack([torch.cat([sure, torch.full((56,), -30.0)]), unsure])
    picks = [selector(None, scores).argmax(dim=-1).tolist() for _ in range(4)]
    assert [p[0] for p in picks] == [5, 5, 5, 5], "a sure model is decoded greedily"
    assert [p[1] for p in picks[:2]] == [41, 42], "the clarification tokens come first, in order"
    assert selector.clarified == [False, True]
    assert selector.stats(1)["regimes"] == {"clarify": 3}
    assert selector.stats(0)["regimes"] == {"argmax": 4}
    assert selector.stats(1)["mean_entropy"] == pytest.approx(6.0)


def test_adaptive_regime_keeps_the_candidate_the_model_prefers() -> None:
    params = EntropyParams(adaptive_samples=32, min_p=0.0, top_k=100, top_p=1.0)
    selector = EntropySelector(params, torch.Generator().manual_seed(1), [], rows=1)
    logits = torch.tensor([[2.0, 1.9, 1.0, 0.5, 0.0, -1.0]])
    h, v = entropy_varentropy(torch.softmax(logits[0], -1).tolist())
    assert classify(h, v) is Regime.ADAPTIVE
    chosen = [int(selector(None, logits).argmax()) for _ in range(20)]
    assert set(chosen) == {0}, "32 candidates almost surely include the best token"


# -- entropy_decoding through the engine ------------------------------------------------------


async def test_entropy_decoding_runs_batched_with_stats_and_seeds(
    upstream: LocalUpstream, model: str, calls: list[Any]
) -> None:
    body = chat(model, decoding="entropy_decoding", n=2, max_tokens=6, seed=7)
    body = {**body, "decoding_stats": True, **eos_ban()}
    first = await upstream.create(body)
    again = await upstream.create(body)
    assert [len(c) for c in calls] == [2, 2]
    assert texts(first) == texts(again)
    stats = first["choices"][0]["optillm_decoding"]
    assert stats["decoding"] == "entropy_decoding"
    assert sum(stats["regimes"].values()) >= 1
    # the tiny random model is uniformly unsure: its first token is the clarification "..."
    assert all(t.startswith("...") for t in texts(first))
    plain = await upstream.create({**body, "decoding_stats": False})
    assert "optillm_decoding" not in plain["choices"][0]


async def test_entropy_decoding_streams(upstream: LocalUpstream, model: str) -> None:
    body = chat(model, decoding="entropy_decoding", max_tokens=6, seed=3, **eos_ban())
    whole = texts(await upstream.create(body))[0]
    streamed = ""
    async for chunk in upstream.stream(body):
        for choice in chunk["choices"]:
            streamed += choice["delta"].get("content") or ""
    assert streamed == whole


# -- third-party decoders ---------------------------------------------------------------------


class Shout:
    """A third-party decoder: greedy, then upper-cased."""

    name = "shout"
    summary = "Greedy, upper-cased."
    streams = False

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        from optillm_local.request import Sampling

        rows = ctx.generate(sampling=Sampling(temperature=0.0), max_tokens=4)
        result = DecodeResult.from_rows(rows, logprobs=False)
        for choice in result.choices:
            choice.text = choice.text.upper() + "!"
        return result


async def test_third_party_decoders_register_the_same_way(
    shared_cache: ModelCache, model: str
) -> None:
    upstream = LocalUpstream(LocalConfig(), {**DECODERS, "shout": Shout()}, cache=shared_cache)
    out = await upstream.create(chat(model, decoding="shout", **eos_ban()))
    assert texts(out)[0].endswith("!")
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(model, decoding="whisper"))
    assert "shout" in info.value.message and info.value.status == 400


def test_uniform_entropy_sanity() -> None:
    assert entropy_varentropy([0.25] * 4)[0] == pytest.approx(math.log2(4))
