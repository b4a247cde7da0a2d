"""The decoder contract: what a decoding strategy registered through ``register_decoders`` gets
and returns.

A decoder is any object with a unique ``name``, a one-line ``summary``, an optional pydantic
``Params`` model (its fields are read from the request body, e.g. ``extra_body={"decoding":
"cot_decoding", "k": 5}``), a ``streams`` flag (True when its choices are generated live, one
row per choice) and ``decode(ctx) -> DecodeResult``. ``decode`` runs in a worker thread with the
model's lock held and the request's adapter active; it may call ``ctx.generate(...)`` (batched
generation with the engine's bookkeeping) and ``ctx.prompt_logits()``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from ..request import LocalRequest

if TYPE_CHECKING:
    from ..loading import LoadedModel
    from ..rows import Delta, Row


class DecodingCancelled(Exception):
    """The client went away; generation stopped early."""


@dataclass
class ChoiceOut:
    """One finished choice."""

    text: str
    finish_reason: str
    logprobs: list[dict[str, Any]] | None = None
    stats: dict[str, Any] | None = None


@dataclass
class DecodeResult:
    """A decoder's answer: its choices and the tokens it generated (all paths counted)."""

    choices: list[ChoiceOut]
    completion_tokens: int
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Sequence[Row], logprobs: bool) -> DecodeResult:
        """One choice per generated row."""
        return cls(
            choices=[
                ChoiceOut(
                    row.text,
                    row.finish_reason or "length",
                    row.logprobs if logprobs else None,
                    row.stats or None,
                )
                for row in rows
            ],
            completion_tokens=sum(row.completion_tokens for row in rows),
        )


@runtime_checkable
class Decoder(Protocol):
    """A decoding strategy of the local engine."""

    name: str
    summary: str
    streams: bool

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        """Generate the request's choices."""
        ...


class BaseDecoder:
    """Convenience base class: no parameters, not streaming."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    streams: ClassVar[bool] = False
    Params: ClassVar[type[BaseModel] | None] = None

    def decode(self, ctx: DecodeContext) -> DecodeResult:
        """Generate the request's choices."""
        raise NotImplementedError


class DecodeContext:
    """What a decoder works with: the model (adapter already selected), the tokenized prompt,
    the validated request and its parameters, and the engine's batched generation."""

    def __init__(
        self,
        loaded: LoadedModel,
        module: Any,
        request: LocalRequest,
        prompt: list[int],
        *,
        cancel: threading.Event | None = None,
        emit: Callable[[list[Delta]], None] | None = None,
    ) -> None:
        self.loaded = loaded
        self.module = module
        self.request = request
        self.prompt = prompt
        self.cancel = cancel or threading.Event()
        self.emit = emit

    @property
    def params(self) -> Any:
        """The decoder's validated ``Params`` (``None`` when it has none)."""
        return self.request.decoder_params

    @property
    def model(self) -> Any:
        """The model to run (the request's adapter already active)."""
        return self.module

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer."""
        return self.loaded.tokenizer

    @property
    def eos_ids(self) -> frozenset[int]:
        """Every end-of-sequence token id of the model."""
        return self.loaded.eos_ids

    def generator(self, seed: int | None) -> Any:
        """A ``torch.Generator`` on the model's device (seeded when ``seed`` is given)."""
        from ..sampling import make_generator

        return make_generator(self.loaded.device, seed)

    def prompt_logits(self) -> Any:
        """Raw next-token logits after the prompt (one forward pass), a vocab-sized tensor."""
        from ..generation import prompt_logits

        return prompt_logits(self)

    def generate(self, **options: Any) -> list[Row]:
        """Batched generation; see :func:`optillm_local.generation.generate_rows`."""
        from ..generation import generate_rows

        rows = generate_rows(self, **options)
        if self.cancel.is_set():
            raise DecodingCancelled()
        return rows
