"""The upstream protocol: how the engine talks to a model server, whatever the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True)
class Capabilities:
    """What an upstream supports natively; the engine works around what it lacks.

    ``n``: several choices from one call (else ``sample(n)`` fans out ``n`` calls).
    ``max_tokens_param``: the field the upstream wants for the output limit (``max_tokens`` or
    ``max_completion_tokens``); the other spelling is renamed. ``None``: sent as the client wrote it.
    """

    n: bool = True
    logprobs: bool = True
    streaming: bool = True
    tools: bool = True
    stream_usage: bool = True
    max_tokens_param: str | None = None


@runtime_checkable
class Upstream(Protocol):
    """A model server speaking OpenAI chat completions (as dicts, losslessly)."""

    name: str
    capabilities: Capabilities

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One non-streaming chat completion; returns the upstream's JSON body unchanged."""
        ...

    def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """One streaming chat completion; yields the upstream's chunk dicts as they arrive."""
        ...

    async def list_models(self) -> list[dict[str, Any]]:
        """The upstream's ``/models`` entries."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...

    def with_api_key(self, api_key: str) -> Upstream:
        """The same upstream (sharing its connection pool) authenticating with ``api_key``."""
        ...


@dataclass(frozen=True)
class UpstreamSpec:
    """A registered upstream provider: its name and a factory building it from the settings.

    ``factory(settings)`` builds the upstream; a factory with a second positional parameter is
    called as ``factory(settings, registry)`` (an engine that needs the frozen registry, e.g. the
    local engine's decoders). ``config``: an optional pydantic model of the upstream's options;
    its fields become ``--<name>-<field>`` flags, ``OPTILLM_<NAME>_<FIELD>`` variables and the
    ``[<name>]`` TOML section, read from ``settings.options_for(name)``.
    """

    name: str
    factory: Callable[..., Upstream]
    summary: str = ""
    config: type[BaseModel] | None = None
