"""Token selection as logits processors (torch; imported only once a model runs).

Every processor of the local engine is ours and runs in a fixed order: the recorder first (it
keeps the model's raw log-probabilities of the step for logprobs and confidences), then the
OpenAI penalties and ``logit_bias``, then a selector that draws the token with the request's own
``torch.Generator`` and returns a one-hot row, so ``generate``'s greedy step takes exactly that
token. Seeds therefore reproduce even while other requests sample in other threads.
"""

from __future__ import annotations

from typing import Any

import torch

from .request import Sampling

NEG_INF = float("-inf")


def filter_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
) -> torch.Tensor:
    """``logits`` (rows x vocab) scaled by ``temperature`` with filtered tokens set to -inf.

    ``min_p`` drops tokens whose probability (after temperature) is below ``min_p`` times the
    most likely token's; ``top_k`` keeps the k best; ``top_p`` keeps the smallest nucleus whose
    probability reaches ``top_p``. The most likely token always survives.
    """
    x = logits.float() / max(temperature, 1e-5)
    if min_p > 0.0:
        probs = torch.softmax(x, dim=-1)
        threshold = probs.max(dim=-1, keepdim=True).values * min_p
        x = x.masked_fill(probs < threshold, NEG_INF)
    if 0 < top_k < x.shape[-1]:
        kth = torch.topk(x, top_k, dim=-1).values[..., -1:]
        x = x.masked_fill(x < kth, NEG_INF)
    if top_p < 1.0:
        sorted_x, order = torch.sort(x, dim=-1, descending=True)
        sorted_p = torch.softmax(sorted_x, dim=-1)
        before = torch.cumsum(sorted_p, dim=-1) - sorted_p
        drop_sorted = before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        x = x.masked_fill(drop, NEG_INF)
    return x


def draw(logits: torch.Tensor, generator: torch.Generator | None, samples: int = 1) -> torch.Tensor:
    """Draw token ids from ``softmax(logits)`` (rows x samples)."""
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.multinomial(probs, samples, replacement=True, generator=generator)


def one_hot(scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Scores where only ``tokens`` (one per row) can win an argmax."""
    out = torch.full_like(scores, NEG_INF)
    return out.scatter(1, tokens.view(-1, 1).to(scores.device), 0.0)


def make_generator(device: str, seed: int | None) -> torch.Generator:
    """A generator for one request; seeded when the request gives a seed."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


class Recorder:
    """Keeps the step's log-probabilities (the model's own distribution, before any penalty,
    bias or temperature): read by the tracker right after the token is chosen."""

    def __init__(self) -> None:
        self.logp: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Record and pass the scores through unchanged."""
        self.logp = torch.log_softmax(scores.float(), dim=-1)
        return scores


class Penalties:
    """OpenAI ``frequency_penalty`` and ``presence_penalty`` over the generated tokens."""

    def __init__(self, prompt_length: int, frequency: float, presence: float) -> None:
        self.prompt_length = prompt_length
        self.frequency = frequency
        self.presence = presence

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Subtract ``count * frequency + (count > 0) * presence`` from each token's logit."""
        generated = input_ids[:, self.prompt_length :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add(
            1, generated, torch.ones_like(generated, dtype=scores.dtype)
        )
        return scores - counts * self.frequency - (counts > 0).to(scores.dtype) * self.presence


class LogitBias:
    """OpenAI ``logit_bias``: a constant added to given token ids (ids beyond the vocab are
    ignored)."""

    def __init__(self, bias: dict[int, float]) -> None:
        self.bias = bias
        self._vector: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Add the bias vector."""
        if self._vector is None:
            vector = torch.zeros(scores.shape[-1], dtype=scores.dtype, device=scores.device)
            for token, amount in self.bias.items():
                if 0 <= token < vector.shape[0]:
                    vector[token] = amount
            self._vector = vector
        return scores + self._vector


class Sampler:
    """Draws the next token with the request's sampling options and generator."""

    def __init__(self, sampling: Sampling, generator: torch.Generator) -> None:
        self.sampling = sampling
        self.generator = generator

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """A one-hot row per sequence: the drawn token."""
        s = self.sampling
        filtered = filter_logits(
            scores, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, min_p=s.min_p
        )
        tokens = draw(filtered.to(self.generator.device), self.generator)[:, 0]
        return one_hot(scores, tokens)


def adjusters(sampling: Sampling, prompt_length: int) -> list[Any]:
    """The request's penalties and ``logit_bias`` as processors (empty when unused)."""
    processors: list[Any] = []
    if sampling.frequency_penalty or sampling.presence_penalty:
        processors.append(
            Penalties(prompt_length, sampling.frequency_penalty, sampling.presence_penalty)
        )
    if sampling.logit_bias:
        processors.append(LogitBias(sampling.logit_bias))
    return processors
