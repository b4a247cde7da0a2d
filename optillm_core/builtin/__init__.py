"""Built-ins, registered through the same hooks as any plugin: ``none`` and the upstreams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..hookspecs import hookimpl
from ..upstream.base import UpstreamSpec
from ..upstream.openai_compat import azure_upstream, openai_upstream
from .passthrough import NoneApproach


@hookimpl
def register_approaches(register: Callable[[Any], None]) -> None:
    """The ``none`` passthrough."""
    register(NoneApproach())


@hookimpl
def register_upstreams(register: Callable[[Any], None]) -> None:
    """``openai`` (any OpenAI-compatible server) and ``azure``."""
    register(UpstreamSpec("openai", openai_upstream, "OpenAI or any OpenAI-compatible server"))
    register(UpstreamSpec("azure", azure_upstream, "Azure OpenAI (key or managed identity)"))
