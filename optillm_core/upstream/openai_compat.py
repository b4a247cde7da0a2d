"""The ``openai`` and ``azure`` upstreams: one pooled ``AsyncOpenAI`` client per upstream.

Bodies go out and come back as plain dicts (``cast_to=object``), so passthrough is lossless and
nothing is parsed twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from ..errors import UpstreamError
from .base import Capabilities
from .direct import DirectTransport

if TYPE_CHECKING:
    from ..settings import Settings

logger = logging.getLogger(__name__)


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(exc.message)


def translate_error(exc: Exception) -> UpstreamError:
    """Map an SDK exception to the proxy's error: 4xx keep their status, the rest 502/504."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = {}
        retry_after = exc.response.headers.get("retry-after")
        if retry_after:
            headers["retry-after"] = retry_after
        if 400 <= status < 500:
            return UpstreamError(
                f"Upstream error: {_message(exc)}",
                status=status,
                code=f"upstream_{status}",
                headers=headers,
            )
        return UpstreamError(
            f"Upstream server error {status}: {_message(exc)}",
            status=502,
            code="upstream_unavailable",
            headers=headers,
        )
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamError(
            "The upstream did not answer in time.", status=504, code="upstream_timeout"
        )
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(
            f"Could not reach the upstream: {exc.message}", status=502, code="upstream_unreachable"
        )
    return UpstreamError(
        f"Invalid upstream response: {type(exc).__name__}: {exc}",
        status=502,
        code="upstream_bad_response",
    )


class OpenAICompatibleUpstream:
    """Any OpenAI-compatible server: OpenAI, vLLM, SGLang, llama.cpp, ollama, LM Studio, Azure."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        name: str = "openai",
        capabilities: Capabilities | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.capabilities = capabilities or Capabilities()
        #: read timeout of streaming responses (seconds without a byte); None: the client's
        self.idle_timeout = idle_timeout if idle_timeout and idle_timeout > 0 else None
        # Azure clients compute auth per request (managed identity): they keep the SDK path.
        self.direct = (
            None
            if isinstance(client, openai.AsyncAzureOpenAI)
            else DirectTransport(client, client.max_retries, self.idle_timeout)
        )

    def _prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = self.capabilities.max_tokens_param
        other = "max_tokens" if wanted == "max_completion_tokens" else "max_completion_tokens"
        if wanted and other in body and wanted not in body:
            body = dict(body)
            body[wanted] = body.pop(other)
        return body

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One completion; the upstream's JSON body, unchanged."""
        body = self._prepare(body)
        if self.direct is not None:
            return await self.direct.create(body)
        try:
            data = await self.client.post("/chat/completions", body=body, cast_to=object)
        except (openai.APIError, ValueError) as exc:
            raise translate_error(exc) from exc
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError(
                "Invalid upstream response: not a chat completion.",
                status=502,
                code="upstream_bad_response",
            )
        return data

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """Chunks as they arrive; an upstream stream that ends before any finish is an error."""
        body = {**self._prepare(body), "stream": True}
        if self.capabilities.stream_usage:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        finished = False
        if self.direct is not None:
            async for chunk in self.direct.stream(body):
                if any(c.get("finish_reason") for c in chunk.get("choices") or []):
                    finished = True
                yield chunk
            if not finished:
                raise UpstreamError(
                    "The upstream stream ended before the answer was finished.",
                    status=502,
                    code="upstream_stream_cut",
                )
            return
        try:
            options: Any = {}
            if self.idle_timeout is not None:
                limit = self.client.timeout
                connect = limit.connect if isinstance(limit, httpx2.Timeout) else 10.0
                options["timeout"] = httpx2.Timeout(self.idle_timeout, connect=connect)
            stream = await self.client.post(
                "/chat/completions",
                body=body,
                cast_to=object,
                options=options,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            async with stream:
                async for item in stream:
                    if not isinstance(item, dict):
                        raise ValueError("stream chunk is not an object")
                    if any(c.get("finish_reason") for c in item.get("choices") or []):
                        finished = True
                    yield item
        except (openai.APIError, ValueError, httpx2.HTTPError) as exc:
            raise translate_error(exc) from exc
        if not finished:
            raise UpstreamError(
                "The upstream stream ended before the answer was finished.",
                status=502,
                code="upstream_stream_cut",
            )

    async def list_models(self) -> list[dict[str, Any]]:
        """The upstream's model list."""
        try:
            data = await self.client.get("/models", cast_to=object)
        except (openai.APIError, ValueError) as exc:
            raise translate_error(exc) from exc
        return list(data.get("data") or []) if isinstance(data, dict) else []

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        await self.client.close()

    def with_api_key(self, api_key: str) -> OpenAICompatibleUpstream:
        """A view of this upstream that sends ``api_key``, sharing the connection pool."""
        return OpenAICompatibleUpstream(
            self.client.with_options(api_key=api_key),
            name=self.name,
            capabilities=self.capabilities,
            idle_timeout=self.idle_timeout,
        )


def _http_client(settings: Settings) -> httpx2.AsyncClient:
    verify: Any = settings.ssl_cert_path or settings.ssl_verify
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
    return httpx2.AsyncClient(
        verify=verify,
        limits=limits,
        timeout=httpx2.Timeout(settings.upstream_timeout, connect=10.0),
    )


def openai_upstream(settings: Settings) -> OpenAICompatibleUpstream:
    """The ``openai`` upstream built from ``--base-url`` and ``OPENAI_API_KEY``."""
    client = openai.AsyncOpenAI(
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.base_url or None,
        max_retries=settings.upstream_max_retries,
        timeout=settings.upstream_timeout,
        http_client=_http_client(settings),
    )
    return OpenAICompatibleUpstream(
        client, name="openai", idle_timeout=settings.upstream_idle_timeout
    )


def azure_upstream(settings: Settings) -> OpenAICompatibleUpstream:
    """The ``azure`` upstream: ``AZURE_OPENAI_API_KEY``, or managed identity without a key."""
    options: dict[str, Any] = {
        "api_version": settings.azure_api_version or None,
        "azure_endpoint": settings.azure_api_base or None,
        "max_retries": settings.upstream_max_retries,
        "timeout": settings.upstream_timeout,
        "http_client": _http_client(settings),
    }
    if settings.azure_openai_api_key:
        options["api_key"] = settings.azure_openai_api_key
    else:
        try:
            from azure.identity import (  # type: ignore[import-not-found, unused-ignore]
                DefaultAzureCredential,
                get_bearer_token_provider,
            )
        except ImportError as exc:
            raise UpstreamError(
                "The azure upstream has no AZURE_OPENAI_API_KEY; managed identity needs the "
                "'azure-identity' package (pip install azure-identity)."
            ) from exc
        options["azure_ad_token_provider"] = get_bearer_token_provider(
            DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default"
        )
    return OpenAICompatibleUpstream(
        openai.AsyncAzureOpenAI(**options),
        name="azure",
        idle_timeout=settings.upstream_idle_timeout,
    )
