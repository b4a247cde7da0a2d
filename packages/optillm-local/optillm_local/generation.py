"""Batched generation with transformers' ``generate`` and the engine's own processors.

All ``n`` samples of a request are rows of one ``generate`` call over the same prompt (no
padding needed); the model's own generation defaults that would alter scores (repetition
penalty, n-gram bans, minimum length) are neutralised so the request's OpenAI parameters are the
only processing. Runs in a worker thread with the model's lock held.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .decoders.base import DecodeContext, DecodeResult, DecodingCancelled
from .loading import LoadedModel
from .prompt import TRANSCRIPT_STOPS, prompt_ids, uses_template
from .request import LocalRequest, Sampling
from .response import reasoning_tokens
from .rows import Delta, Row
from .sampling import Recorder, Sampler, adjusters, make_generator
from .tokens import Detokenizer, StopMatcher
from .tracker import Tracker


def _generation_config(ctx: DecodeContext, max_new_tokens: int, **overrides: Any) -> Any:
    from transformers import GenerationConfig

    loaded = ctx.loaded
    eos = sorted(loaded.eos_ids)
    values: dict[str, Any] = {
        "do_sample": False,
        "num_beams": 1,
        "max_new_tokens": max_new_tokens,
        "min_length": 0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "renormalize_logits": False,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 50,
        "eos_token_id": eos or None,
        "pad_token_id": loaded.pad_id,
        "use_cache": True,
    }
    values.update(overrides)
    return GenerationConfig(**values)  # type: ignore[no-untyped-call]


def new_rows(ctx: DecodeContext, count: int, stop: Sequence[str], logprobs: bool) -> list[Row]:
    """Fresh row states for ``count`` sequences continuing the prompt."""
    return [
        Row(
            index=i,
            detok=Detokenizer(ctx.tokenizer, ctx.prompt),
            stops=StopMatcher(list(stop)),
            want_logprobs=logprobs,
        )
        for i in range(count)
    ]


def generate_rows(
    ctx: DecodeContext,
    *,
    n: int | None = None,
    first_tokens: Sequence[int] | None = None,
    first_margin: float | None = None,
    processors: Sequence[Any] = (),
    sampling: Sampling | None = None,
    generator: Any = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | None = None,
    logprobs: bool | None = None,
    margins: bool = False,
    stream: bool = True,
) -> list[Row]:
    """Generate rows continuing the prompt in one batched ``generate``.

    :param n: number of rows (default: the request's ``n``); ignored with ``first_tokens``.
    :param first_tokens: one forced first token per row (cot_decoding's branches).
    :param first_margin: the confidence margin recorded for the forced first tokens.
    :param processors: extra processors run after penalties/bias and before the selector
        (a decoder's own selector goes here, with ``sampling`` greedy).
    :param sampling: the request's sampling (default); with ``temperature == 0`` greedy.
    :param max_tokens: tokens per row, forced first token included (default: the request's).
    :param margins: record top-1 minus top-2 probability per token (confidence).
    :param stream: hand live deltas to the request's streaming sink.
    """
    request = ctx.request
    sampling = sampling or request.sampling
    logprobs = request.logprobs if logprobs is None else logprobs
    max_tokens = max_tokens or request.max_tokens
    stop = request.stop if stop is None else stop
    forced = list(first_tokens or [])
    count = len(forced) if forced else (n or request.n)
    rows = new_rows(ctx, count, stop, logprobs)
    recorder = Recorder() if (logprobs or margins) else None
    tracker = Tracker(
        rows,
        eos_ids=ctx.eos_ids,
        max_tokens=max_tokens,
        token_text=ctx.loaded.token_text,
        recorder=recorder,
        top_logprobs=request.top_logprobs if logprobs else 0,
        margins=margins,
        cancel=ctx.cancel,
        emit=ctx.emit if stream else None,
    )
    device = ctx.loaded.device
    input_ids = torch.tensor([ctx.prompt], dtype=torch.long, device=device).repeat(count, 1)
    if forced:
        for row, token in zip(rows, forced, strict=True):
            tracker.push(row, token, None, first_margin if margins else None)
        column = torch.tensor(forced, dtype=torch.long, device=device).view(-1, 1)
        input_ids = torch.cat([input_ids, column], dim=1)
    budget = max_tokens - len(forced[:1])
    if budget > 0 and not all(row.finish_reason for row in rows):
        chain: list[Any] = [recorder] if recorder is not None else []
        chain += adjusters(sampling, len(ctx.prompt))
        chain += list(processors)
        if not sampling.greedy:
            chain.append(Sampler(sampling, generator or make_generator(device, sampling.seed)))
        _run_generate(ctx, input_ids, budget, chain, tracker)
    tracker.finish()
    return rows


def _run_generate(
    ctx: DecodeContext, input_ids: torch.Tensor, budget: int, chain: list[Any], tracker: Tracker
) -> None:
    from transformers import LogitsProcessorList, StoppingCriteriaList

    config = _generation_config(ctx, budget)
    with torch.inference_mode():
        ctx.module.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            logits_processor=LogitsProcessorList(chain),
            stopping_criteria=StoppingCriteriaList([tracker]),
        )


def prompt_logits(ctx: DecodeContext) -> torch.Tensor:
    """Raw next-token logits after the prompt (one forward pass)."""
    ids = torch.tensor([ctx.prompt], dtype=torch.long, device=ctx.loaded.device)
    with torch.inference_mode():
        out = ctx.module(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    logits: torch.Tensor = out.logits[0, -1].float()
    return logits


class StandardDecoder:
    """Plain sampling with the request's OpenAI parameters (no ``decoding`` field)."""

    name = "standard"
    summary = "OpenAI-compatible sampling: temperature, top_p, penalties, logit_bias, n."
    streams = True
    Params = None

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        """All ``n`` rows in one batched ``generate``."""
        rows = ctx.generate()
        return DecodeResult.from_rows(rows, ctx.request.logprobs)


@dataclass
class JobOutcome:
    """A finished job: the decoder's result, the prompt length and the reasoning tokens."""

    result: DecodeResult
    prompt_tokens: int
    reasoning_tokens: int = 0


def run_job(
    loaded: LoadedModel,
    request: LocalRequest,
    decoder: Any,
    *,
    cancel: threading.Event,
    emit: Callable[[list[Delta]], None] | None = None,
) -> JobOutcome:
    """Take the model's lock, tokenize, select the adapter and run the decoder (blocking).

    The tokenizer is only used under the lock: fast tokenizers are not safe for concurrent use.
    """
    with loaded.lock:
        if cancel.is_set():
            raise DecodingCancelled()
        prompt = prompt_ids(loaded.tokenizer, request.messages)
        if not uses_template(loaded.tokenizer):
            extra = [s for s in TRANSCRIPT_STOPS if s not in request.stop]
            request = dataclasses.replace(request, stop=[*request.stop, *extra])
        adapter = loaded.resolve_adapter(request.ref.adapters, request.active_adapter)
        with loaded.activated(adapter) as module:
            ctx = DecodeContext(
                loaded,
                module,
                request,
                prompt,
                cancel=cancel,
                emit=emit if decoder.streams else None,
            )
            result = decoder.decode(ctx)
        reasoning = reasoning_tokens(loaded.tokenizer, result.choices)
    if cancel.is_set():
        raise DecodingCancelled()
    return JobOutcome(result, len(prompt), reasoning)
