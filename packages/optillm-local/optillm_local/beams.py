"""Beam-search branches for ``cot_decoding`` (``num_beams > 1``).

Beam search reorders hypotheses every step, so per-step scores do not belong to one path; the
confidence margins of each finished path are computed afterwards from one teacher-forced forward
pass over that path (the same distributions it was decoded from, correctly aligned).
"""

from __future__ import annotations

from typing import Any

import torch

from .decoders.base import DecodeContext, DecodingCancelled
from .generation import _generation_config, new_rows
from .rows import Row
from .tracker import Tracker


class _CancelCheck:
    """Stops every hypothesis once the client went away."""

    def __init__(self, ctx: DecodeContext) -> None:
        self.cancel = ctx.cancel

    def __call__(self, input_ids: torch.Tensor, scores: Any = None, **kwargs: Any) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self.cancel.is_set(), dtype=torch.bool, device=input_ids.device
        )


def _margins(ctx: DecodeContext, sequence: list[int], start: int) -> list[float]:
    """Top-1 minus top-2 probability for each token of ``sequence`` from ``start`` on."""
    ids = torch.tensor([sequence], dtype=torch.long, device=ctx.loaded.device)
    with torch.inference_mode():
        logits = ctx.module(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
    probs = torch.softmax(logits[start - 1 : len(sequence) - 1].float(), dim=-1)
    best = torch.topk(probs, 2, dim=-1).values
    return (best[:, 0] - best[:, 1]).tolist()


def beam_rows(ctx: DecodeContext, firsts: list[int], first_margin: float, p: Any) -> list[Row]:
    """One beam-searched path per first token (batched), with confidence margins."""
    from transformers import StoppingCriteriaList

    device = ctx.loaded.device
    prompt = torch.tensor([ctx.prompt], dtype=torch.long, device=device).repeat(len(firsts), 1)
    column = torch.tensor(firsts, dtype=torch.long, device=device).view(-1, 1)
    input_ids = torch.cat([prompt, column], dim=1)
    config = _generation_config(
        ctx,
        max(p.max_tokens - 1, 1),
        num_beams=p.num_beams,
        length_penalty=p.length_penalty,
        early_stopping=p.early_stopping,
        no_repeat_ngram_size=p.no_repeat_ngram_size,
    )
    with torch.inference_mode():
        out = ctx.module.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            stopping_criteria=StoppingCriteriaList([_CancelCheck(ctx)]),
        )
    if ctx.cancel.is_set():
        raise DecodingCancelled()
    rows = new_rows(ctx, len(firsts), ctx.request.stop, logprobs=False)
    tracker = Tracker(
        rows,
        eos_ids=ctx.eos_ids,
        max_tokens=p.max_tokens,
        token_text=ctx.loaded.token_text,
    )
    start = len(ctx.prompt)
    for row, sequence in zip(rows, out.tolist(), strict=True):
        generated = sequence[start:]
        cut = next((i + 1 for i, t in enumerate(generated) if t in ctx.eos_ids), len(generated))
        generated = generated[:cut]
        margins = [first_margin, *_margins(ctx, sequence[: start + cut], start + 1)]
        for token, margin in zip(generated, margins, strict=False):
            if row.finish_reason:
                break
            tracker.push(row, token, None, margin)
    tracker.finish()
    return rows
