"""The ``litellm`` upstream: every provider LiteLLM supports, through ``litellm.acompletion``.

Model strings use LiteLLM's ``provider/model`` syntax and pass through untouched; provider keys
come from LiteLLM's own environment variables (``GEMINI_API_KEY``, ``ANTHROPIC_API_KEY`` …).
litellm takes seconds to import, so it is imported on the first request, in a worker thread,
once per upstream (views made by ``with_api_key`` share the import). No LiteLLM global is
changed except ``suppress_debug_info`` (its "Give Feedback" banner is printed to stdout on
every error); in particular ``drop_params`` stays off and no provider safety setting is set.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from optillm_core import Capabilities, UpstreamError

from .convert import call_kwargs, plain
from .errors import translate_error

if TYPE_CHECKING:
    from optillm_core import Settings

#: Releases below this are refused (1.82.7 and 1.82.8 were compromised on PyPI).
MIN_VERSION = (1, 83)

CAPABILITIES = Capabilities(n=False, logprobs=False, streaming=True, tools=True, stream_usage=True)


@dataclass(frozen=True)
class LiteLLM:
    """The imported library: ``acompletion`` and LiteLLM's test for its own kwargs."""

    acompletion: Callable[..., Any]
    owns: Callable[[str], bool]
    version: str


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def import_litellm() -> LiteLLM:
    """Import litellm (blocking, seconds: call it in a worker thread) and check its version."""
    try:
        version = importlib.metadata.version("litellm")
        module: Any = importlib.import_module("litellm")
    except ImportError as exc:  # PackageNotFoundError is an ImportError
        raise UpstreamError(
            "The litellm upstream needs the 'litellm' package (pip install 'litellm>=1.83').",
            status=503,
            code="upstream_unavailable",
        ) from exc
    if _version_tuple(version) < MIN_VERSION:
        raise UpstreamError(
            f"litellm {version} is installed; the litellm upstream needs 1.83 or newer "
            "(1.82.7 and 1.82.8 were compromised releases).",
            status=503,
            code="upstream_unavailable",
        )
    module.suppress_debug_info = True
    owned = importlib.import_module("litellm.types.utils")
    owns = getattr(owned, "is_litellm_owned_kwarg", None)
    if owns is None:
        names = frozenset(getattr(owned, "all_litellm_params", ()))
        owns = names.__contains__
    return LiteLLM(acompletion=module.acompletion, owns=owns, version=version)


class _Loader:
    """Imports litellm once, on first use, in a worker thread; concurrent first requests wait."""

    def __init__(self, importer: Callable[[], LiteLLM]) -> None:
        self.importer = importer
        self.lock = anyio.Lock()
        self.library: LiteLLM | None = None

    async def get(self) -> LiteLLM:
        if self.library is None:
            async with self.lock:
                if self.library is None:
                    self.library = await anyio.to_thread.run_sync(self.importer)
        return self.library


class LiteLLMUpstream:
    """Chat completions through ``litellm.acompletion``, as OpenAI-shaped dicts.

    ``api_base``: where to send requests (``--base-url``; ``None``: LiteLLM's provider default).
    ``timeout`` (seconds) and ``num_retries`` go to every call; LiteLLM's retries are the only
    retry layer. ``ssl_verify``: LiteLLM's per-call TLS setting, ``None`` to keep its default.
    """

    name = "litellm"
    capabilities = CAPABILITIES

    def __init__(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 600.0,
        num_retries: int = 2,
        ssl_verify: bool | str | None = None,
        importer: Callable[[], LiteLLM] = import_litellm,
        loader: _Loader | None = None,
    ) -> None:
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.num_retries = num_retries
        self.ssl_verify = ssl_verify
        self.loader = loader or _Loader(importer)

    def fixed_kwargs(self) -> dict[str, Any]:
        """The operator's settings sent with every call (never taken from a request)."""
        fixed: dict[str, Any] = {"timeout": self.timeout, "num_retries": self.num_retries}
        if self.api_base:
            fixed["api_base"] = self.api_base
        if self.api_key:
            fixed["api_key"] = self.api_key
        if self.ssl_verify is not None:
            fixed["ssl_verify"] = self.ssl_verify
        return fixed

    async def _kwargs(self, body: dict[str, Any], stream: bool) -> tuple[LiteLLM, dict[str, Any]]:
        library = await self.loader.get()
        body = {
            key: value for key, value in body.items() if key not in ("stream", "stream_options")
        }
        kwargs = call_kwargs(body, self.fixed_kwargs(), library.owns)
        if stream:
            kwargs["stream"] = True
            if self.capabilities.stream_usage:
                kwargs["stream_options"] = {"include_usage": True}
        return library, kwargs

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One completion, as the OpenAI ``chat.completion`` dict."""
        library, kwargs = await self._kwargs(body, stream=False)
        try:
            response = await library.acompletion(**kwargs)
            return plain(response)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Chunk dicts as they arrive (a usage chunk last); a stream cut short is an error."""
        library, kwargs = await self._kwargs(body, stream=True)
        finished = False
        response: Any = None
        try:
            try:
                response = await library.acompletion(**kwargs)
                async for chunk in response:
                    data = plain(chunk)
                    if any(c.get("finish_reason") for c in data["choices"]):
                        finished = True
                    yield data
            except Exception as exc:
                raise translate_error(exc) from exc
        finally:
            closer = getattr(response, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await closer()
        if not finished:
            raise UpstreamError(
                "The upstream stream ended before the answer was finished.",
                status=502,
                code="upstream_stream_cut",
            )

    async def list_models(self) -> list[dict[str, Any]]:
        """No listing: LiteLLM has no provider-independent one (the server lists ``--model``)."""
        return []

    async def aclose(self) -> None:
        """Nothing to release: LiteLLM keeps its own process-wide connection pools."""

    def with_api_key(self, api_key: str) -> LiteLLMUpstream:
        """A view that sends ``api_key`` to the provider on each call, sharing the import."""
        return LiteLLMUpstream(
            api_base=self.api_base,
            api_key=api_key,
            timeout=self.timeout,
            num_retries=self.num_retries,
            ssl_verify=self.ssl_verify,
            loader=self.loader,
        )


def litellm_upstream(settings: Settings) -> LiteLLMUpstream:
    """The ``litellm`` upstream from the server settings.

    ``--base-url`` becomes LiteLLM's ``api_base`` (with ``--upstream litellm``); ``OPENAI_API_KEY``
    is not used — LiteLLM reads each provider's key from its own environment variables.
    """
    ssl_verify: bool | str | None = None
    if settings.ssl_cert_path:
        ssl_verify = settings.ssl_cert_path
    elif not settings.ssl_verify:
        ssl_verify = False
    return LiteLLMUpstream(
        api_base=settings.base_url or None,
        timeout=settings.upstream_timeout,
        num_retries=settings.upstream_max_retries,
        ssl_verify=ssl_verify,
    )
