"""Registers the upstream ``litellm``: any provider LiteLLM supports, in its ``provider/model``
syntax (``gemini/gemini-1.5-flash-002``, ``anthropic/claude-3-5-haiku-latest``, ``bedrock/…``).

Technique: none (a transport). Paper: none (LiteLLM, https://docs.litellm.ai/).

Chosen with ``--upstream litellm``, or automatically when nothing else is configured (no
``--base-url``, no ``OPENAI_API_KEY``, no Azure variables, no ``OPTILLM_API_KEY``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optillm_core import UpstreamSpec, hookimpl

from .upstream import litellm_upstream


@hookimpl
def register_upstreams(register: Callable[[Any], None]) -> None:
    """Register ``litellm``."""
    register(
        UpstreamSpec(
            "litellm",
            litellm_upstream,
            "Any LiteLLM provider (gemini/…, anthropic/…, bedrock/…); keys from LiteLLM's env vars",
        )
    )
