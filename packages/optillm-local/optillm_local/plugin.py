"""The ``local`` upstream and its decoders, registered through the optillm hooks.

Technique: local inference with Hugging Face transformers; decoders ``cot_decoding`` (Wang &
Zhou, "Chain-of-Thought Reasoning Without Prompting", 2024) and ``entropy_decoding`` (entropix,
xjdr, 2024). Nothing heavy is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optillm_core import UpstreamSpec, hookimpl

from .config import LocalConfig
from .decoders.cot import CotDecoder
from .decoders.entropy import EntropyDecoder
from .upstream import local_upstream


@hookimpl
def register_upstreams(register: Callable[[Any], None]) -> None:
    """Register the ``local`` upstream (options: ``--local-*`` flags, ``[local]`` TOML)."""
    register(
        UpstreamSpec(
            "local",
            local_upstream,
            "Hugging Face models in-process (LoRA adapters, n, logprobs, decoders)",
            config=LocalConfig,
        )
    )


@hookimpl
def register_decoders(register: Callable[[Any], None]) -> None:
    """Register ``cot_decoding`` and ``entropy_decoding``."""
    register(CotDecoder())
    register(EntropyDecoder())
