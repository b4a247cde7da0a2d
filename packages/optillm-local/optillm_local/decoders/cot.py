"""``cot_decoding``: Chain-of-Thought decoding (Wang & Zhou, "Chain-of-Thought Reasoning Without
Prompting", 2024).

Branch on the top-k first tokens, continue every branch greedily (or with beams, or sampled when a
temperature is given) — all k branches in one batch — and score each path by its confidence Δ:
the mean, over the tokens of the path's *answer*, of the gap between the top-1 and top-2
probabilities of the distribution each token was drawn from. With ``aggregate_paths`` the paths
are grouped by their extracted answer (``optillm_core.answers``) and the answer with the largest
summed Δ wins; its most confident path is returned. Paths without an extractable answer rank
last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from optillm_core import param
from optillm_core.answers import answer_key, find_answer, normalize_answer

from .base import ChoiceOut, DecodeContext, DecodeResult


class CotParams(BaseModel):
    """Parameters of ``cot_decoding`` (flat body keys)."""

    model_config = ConfigDict(extra="forbid")

    k: int = param(10, "Branches: the top-k first tokens.", ge=1, le=64)
    num_beams: int = param(1, "Beams per branch (1: greedy).", ge=1, le=16)
    max_tokens: int = param(
        512, "Tokens per branch.", aliases=["max_completion_tokens", "max_new_tokens"], ge=1
    )
    temperature: float | None = param(
        None, "Sample each branch after its first token at this temperature (none: greedy).", ge=0
    )
    top_p: float = param(1.0, "Nucleus for sampled branches.", gt=0, le=1)
    length_penalty: float = param(1.0, "Beam-search length penalty.")
    no_repeat_ngram_size: int = param(0, "Ban repeating n-grams of this size (0: off).", ge=0)
    early_stopping: bool = param(False, "Beam search stops when num_beams hypotheses finish.")
    aggregate_paths: bool = param(True, "Sum confidence over paths with the same answer.")
    answer_kind: Literal["math", "mcq", "exact", "general"] = param(
        "math", "How answers are extracted and compared (optillm_core.answers kinds)."
    )
    batch_size: int = param(0, "Branches generated per batch (0: all k at once).", ge=0)


@dataclass
class Path:
    """One decoded branch."""

    text: str
    finish_reason: str
    confidence: float
    answer: str | None
    key: str
    tokens: int
    logprobs: list[dict[str, Any]] | None = None


def answer_span(text: str, answer: str | None) -> tuple[int, int] | None:
    """Character span of the last occurrence of ``answer`` in ``text``."""
    if not answer:
        return None
    start = text.rfind(answer)
    return (start, start + len(answer)) if start >= 0 else None


def path_confidence(
    margins: Sequence[float], ends: Sequence[int], span: tuple[int, int] | None
) -> float:
    """Mean margin over the tokens whose text overlaps ``span`` (all tokens without a span).

    ``margins[i]`` and ``ends[i]`` belong to the i-th generated token: its top-1 minus top-2
    probability and the text length once it was added.
    """
    if not margins:
        return 0.0
    chosen = list(range(len(margins)))
    if span is not None:
        start, end = span
        begins = [0, *ends[:-1]]
        overlap = [i for i in chosen if begins[i] < end and ends[i] > start]
        chosen = overlap or chosen
    return sum(margins[i] for i in chosen) / len(chosen)


def aggregate(paths: Sequence[Path], by_answer: bool) -> list[Path]:
    """Paths ordered best first: by answer group (summed confidence), else by confidence.

    Paths in which no answer could be found rank after every path that has one.
    """
    if not by_answer:
        return sorted(paths, key=lambda p: (p.answer is None, -p.confidence))
    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(path.key, []).append(path)
    ranked = sorted(
        groups.values(),
        key=lambda g: (g[0].answer is None, -sum(p.confidence for p in g)),
    )
    out: list[Path] = []
    for group in ranked:
        out.append(max(group, key=lambda p: p.confidence))
    for group in ranked:
        rest = sorted(group, key=lambda p: -p.confidence)[1:]
        out.extend(rest)
    return out


def first_tokens(logits: Any, k: int, eos_ids: frozenset[int]) -> list[int]:
    """The k most likely first tokens (end-of-sequence tokens excluded)."""
    import torch

    masked = logits.clone()
    for token in eos_ids:
        if 0 <= token < masked.shape[-1]:
            masked[token] = float("-inf")
    k = min(k, int(torch.isfinite(masked).sum()))
    return [int(t) for t in torch.topk(masked, k).indices.tolist()]


def top_margin(logits: Any) -> float:
    """Top-1 minus top-2 probability of a logits vector."""
    import torch

    best = torch.topk(torch.softmax(logits.float(), dim=-1), 2).values
    return float(best[0] - best[1])


class CotDecoder:
    """The ``cot_decoding`` decoder."""

    name = "cot_decoding"
    summary = "CoT decoding: top-k first-token branches, answer-confidence aggregation."
    streams = False
    Params = CotParams

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        """Generate the k branches (batched), score and rank them; ``n`` best paths returned."""
        p: CotParams = ctx.params
        logits = ctx.prompt_logits()
        firsts = first_tokens(logits, p.k, ctx.eos_ids)
        margin = top_margin(logits)
        if p.num_beams > 1:
            from ..beams import beam_rows

            rows = beam_rows(ctx, firsts, margin, p)
        else:
            rows = self._greedy_rows(ctx, firsts, margin, p)
        question = _last_user_text(ctx.request.messages)
        paths = [self._path(row, p, question) for row in rows]
        ranked = aggregate(paths, p.aggregate_paths)
        chosen = ranked[: ctx.request.n]
        group_scores: dict[str, float] = {}
        for path in paths:
            group_scores[path.key] = group_scores.get(path.key, 0.0) + path.confidence
        choices = [
            ChoiceOut(
                path.text,
                path.finish_reason,
                path.logprobs,
                {
                    "decoding": self.name,
                    "confidence": round(path.confidence, 6),
                    "answer": path.answer,
                    "answer_score": round(group_scores[path.key], 6),
                    "paths": [
                        {
                            "answer": q.answer,
                            "confidence": round(q.confidence, 6),
                            "tokens": q.tokens,
                        }
                        for q in paths
                    ],
                },
            )
            for path in chosen
        ]
        return DecodeResult(choices, completion_tokens=sum(path.tokens for path in paths))

    def _greedy_rows(
        self, ctx: DecodeContext, firsts: list[int], margin: float, p: CotParams
    ) -> list[Any]:
        from ..request import Sampling

        base = ctx.request.sampling
        sampling = Sampling(
            temperature=p.temperature or 0.0,
            top_p=p.top_p,
            frequency_penalty=base.frequency_penalty,
            presence_penalty=base.presence_penalty,
            logit_bias=base.logit_bias,
            seed=base.seed,
        )
        processors: list[Any] = []
        if p.no_repeat_ngram_size:
            from transformers.generation.logits_process import NoRepeatNGramLogitsProcessor

            processors.append(NoRepeatNGramLogitsProcessor(p.no_repeat_ngram_size))
        size = p.batch_size or len(firsts)
        rows: list[Any] = []
        for start in range(0, len(firsts), size):
            rows += ctx.generate(
                first_tokens=firsts[start : start + size],
                first_margin=margin,
                processors=processors,
                sampling=sampling,
                max_tokens=p.max_tokens,
                margins=True,
                stream=False,
            )
        return rows

    def _path(self, row: Any, p: CotParams, question: str | None) -> Path:
        found = find_answer(row.text, p.answer_kind, question=question)
        answer = found.answer if found else None
        key = answer_key(row.text, p.answer_kind, question=question)
        if key is None:
            key = "text:" + normalize_answer(row.text, "exact")
        confidence = path_confidence(row.margins, row.ends, answer_span(row.text, answer))
        return Path(
            row.text,
            row.finish_reason or "length",
            confidence,
            answer,
            key,
            row.completion_tokens,
            row.logprobs if row.want_logprobs else None,
        )


def _last_user_text(messages: list[dict[str, Any]]) -> str | None:
    from ..prompt import message_text

    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return None
