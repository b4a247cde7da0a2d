"""Helpers shared by the local-engine tests."""

from __future__ import annotations

from typing import Any

from optillm_local.decoders import CotDecoder, EntropyDecoder

DECODERS = {"cot_decoding": CotDecoder(), "entropy_decoding": EntropyDecoder()}


def chat(model: str, text: str = "hello world", **extra: Any) -> dict[str, Any]:
    """A chat-completion body."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def texts(response: dict[str, Any]) -> list[str]:
    """The choices' contents."""
    return [c["message"]["content"] for c in response["choices"]]


def eos_ban(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``logit_bias`` that makes the tiny model never end on its own (its eos id is 2)."""
    return {"logit_bias": {"2": -100}, **(extra or {})}
