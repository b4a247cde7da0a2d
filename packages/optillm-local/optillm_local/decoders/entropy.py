"""``entropy_decoding``: entropy/varentropy-adaptive sampling in the style of entropix (xjdr,
2024). Each step's regime (see :mod:`optillm_local.decoders.regimes`) decides between argmax,
a clarification insert, exploration, high-uncertainty and adaptive sampling.

Unlike the reference port it runs batched (``n`` rows in one ``generate``), streams, takes the
clarification text from the tokenizer (no hard-coded vocabulary id) and applies ``min_p`` to the
distribution it actually samples from. Attention-based metrics are not used: they need eager
attention, which the fast kernels (sdpa, flash) do not expose.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from optillm_core import param

from .base import DecodeContext, DecodeResult
from .regimes import Knobs, Regime, Thresholds, classify, knobs_for


class EntropyParams(BaseModel):
    """Parameters of ``entropy_decoding`` (flat body keys)."""

    model_config = ConfigDict(extra="forbid")

    top_k: int = param(27, "Base top-k.", ge=1, le=1000)
    min_p: float = param(0.03, "Base min-p (relative to the most likely token).", ge=0, le=1)
    temperature: float = param(0.666, "Base temperature.", gt=0, le=2)
    top_p: float = param(0.90, "Base nucleus.", gt=0, le=1)
    max_tokens: int | None = param(
        None, "Output tokens (default: the request's).", aliases=["max_completion_tokens"], ge=1
    )
    seed: int | None = param(None, "Seed of the sampler (none: random).")
    clarification: str = param(
        "...", "Text inserted once when the model is uniformly unsure ('' disables)."
    )
    adaptive_samples: int = param(5, "Candidates drawn in the adaptive regime.", ge=1, le=32)


class EntropySelector:
    """Chooses each row's token by regime; returns one-hot scores."""

    def __init__(
        self,
        params: EntropyParams,
        generator: Any,
        clarification: list[int],
        rows: int,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.params = params
        self.generator = generator
        self.clarification = clarification
        self.thresholds = thresholds or Thresholds()
        self.base = Knobs(params.temperature, params.top_p, params.top_k, params.min_p)
        self.queued: list[list[int]] = [[] for _ in range(rows)]
        self.clarified = [False] * rows
        self.regimes: list[Counter[str]] = [Counter() for _ in range(rows)]
        self.entropy_sum = [0.0] * rows
        self.varentropy_sum = [0.0] * rows
        self.steps = [0] * rows

    def choose(self, row: int, logits: Any, entropy: float, varentropy: float) -> int:
        """The token of one row for one step."""
        import torch

        from ..sampling import draw, filter_logits

        self.steps[row] += 1
        self.entropy_sum[row] += entropy
        self.varentropy_sum[row] += varentropy
        if self.queued[row]:
            return self.queued[row].pop(0)
        regime = classify(entropy, varentropy, self.thresholds)
        if regime is Regime.CLARIFY and self.clarification and not self.clarified[row]:
            self.clarified[row] = True
            self.regimes[row]["clarify"] += 1
            self.queued[row] = list(self.clarification[1:])
            return self.clarification[0]
        self.regimes[row][regime.value] += 1
        if regime is Regime.ARGMAX:
            return int(torch.argmax(logits))
        knobs = knobs_for(regime, entropy, varentropy, self.base)
        filtered = filter_logits(
            logits[None, :],
            temperature=knobs.temperature,
            top_k=knobs.top_k,
            top_p=knobs.top_p,
            min_p=knobs.min_p,
        )
        samples = self.params.adaptive_samples if regime is Regime.ADAPTIVE else 1
        candidates = draw(filtered.to(self.generator.device), self.generator, samples)[0]
        if samples == 1:
            return int(candidates[0])
        scores = torch.log_softmax(logits.float(), dim=-1)[candidates.to(logits.device)]
        return int(candidates[int(torch.argmax(scores))])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """One-hot scores of the chosen tokens."""
        import torch

        from ..sampling import one_hot

        logp = torch.log_softmax(scores.float(), dim=-1)
        probs = logp.exp()
        bits = logp / torch.log(torch.tensor(2.0))
        plogp = torch.where(probs > 0, probs * bits, torch.zeros_like(probs))
        entropy = -plogp.sum(dim=-1)
        diff = torch.where(probs > 0, bits + entropy[:, None], torch.zeros_like(probs))
        varentropy = (probs * diff**2).sum(dim=-1)
        tokens = [
            self.choose(r, scores[r], float(entropy[r]), float(varentropy[r]))
            for r in range(scores.shape[0])
        ]
        return one_hot(scores, torch.tensor(tokens, dtype=torch.long))

    def stats(self, row: int) -> dict[str, Any]:
        """What happened in one row: regime counts and mean metrics."""
        steps = max(self.steps[row], 1)
        return {
            "decoding": "entropy_decoding",
            "regimes": dict(self.regimes[row]),
            "mean_entropy": round(self.entropy_sum[row] / steps, 4),
            "mean_varentropy": round(self.varentropy_sum[row] / steps, 4),
            "clarified": self.clarified[row],
        }


class EntropyDecoder:
    """The ``entropy_decoding`` decoder."""

    name = "entropy_decoding"
    summary = "Entropy/varentropy-adaptive sampling (entropix-style), batched over n."
    streams = True
    Params = EntropyParams

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        """All ``n`` rows in one ``generate``, each token chosen by its regime."""
        from ..request import Sampling

        p: EntropyParams = ctx.params
        clarification = (
            ctx.tokenizer.encode(p.clarification, add_special_tokens=False)
            if p.clarification
            else []
        )
        selector = EntropySelector(
            p, ctx.generator(p.seed), [int(t) for t in clarification], ctx.request.n
        )
        base = ctx.request.sampling
        sampling = Sampling(
            temperature=0.0,
            frequency_penalty=base.frequency_penalty,
            presence_penalty=base.presence_penalty,
            logit_bias=base.logit_bias,
        )
        rows = ctx.generate(processors=[selector], sampling=sampling, max_tokens=p.max_tokens)
        for row in rows:
            row.stats = selector.stats(row.index)
        return DecodeResult.from_rows(rows, ctx.request.logprobs)
