"""Which upstream a server uses (DESIGN §8.7)."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import OptillmError
from ..settings import Settings
from .base import UpstreamSpec

HOW_TO_CONFIGURE = (
    "No upstream is configured. Set --base-url (any OpenAI-compatible server: vLLM, llama.cpp, "
    "ollama, LM Studio) or OPENAI_API_KEY; or AZURE_API_BASE and AZURE_API_VERSION for Azure; "
    "or install optillm-litellm for other providers; or name one with --upstream."
)


class UpstreamConfigError(OptillmError):
    """The server cannot start because no upstream can be chosen."""


def choose_upstream(settings: Settings, upstreams: Mapping[str, UpstreamSpec]) -> UpstreamSpec:
    """``--upstream`` if given; else openai, azure, local, litellm by configuration."""
    if settings.upstream:
        if settings.upstream not in upstreams:
            raise UpstreamConfigError(
                f"Unknown upstream {settings.upstream!r}; installed: {', '.join(sorted(upstreams))}."
            )
        return upstreams[settings.upstream]
    order: list[tuple[bool, str]] = [
        (bool(settings.base_url or settings.openai_api_key), "openai"),
        (
            bool(
                settings.azure_openai_api_key
                or (settings.azure_api_base and settings.azure_api_version)
            ),
            "azure",
        ),
        (bool(settings.optillm_api_key), "local"),
        (True, "litellm"),
    ]
    for wanted, name in order:
        if wanted and name in upstreams:
            return upstreams[name]
    raise UpstreamConfigError(HOW_TO_CONFIGURE)
