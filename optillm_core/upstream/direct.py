"""The fast path of the ``openai`` upstream: chat requests sent straight over the pooled httpx2
client of its ``AsyncOpenAI`` object, with one retry layer of our own.

The SDK's request machinery costs about a millisecond per call; a proxy pays that on every
request, so plain OpenAI-compatible upstreams skip it. Bodies and responses stay raw JSON.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai

from ..errors import UpstreamError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


def status_error(status: int, content: bytes, headers: httpx2.Headers) -> UpstreamError:
    """The proxy's error for an upstream error response: 4xx keep their status, 5xx → 502."""
    message = content.decode("utf-8", "replace")[:500]
    try:
        data = json.loads(content)
        inner = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"]
        elif isinstance(inner, str):
            message = inner
    except ValueError:
        pass
    extra = {"retry-after": headers["retry-after"]} if "retry-after" in headers else {}
    if 400 <= status < 500:
        return UpstreamError(
            f"Upstream error: {message}", status=status, code=f"upstream_{status}", headers=extra
        )
    return UpstreamError(
        f"Upstream server error {status}: {message}",
        status=502,
        code="upstream_unavailable",
        headers=extra,
    )


def transport_error(exc: httpx2.HTTPError) -> UpstreamError:
    """The proxy's error for a failed connection or a timeout (before any response byte)."""
    if isinstance(exc, httpx2.TimeoutException):
        return UpstreamError(
            "The upstream did not answer in time.", status=504, code="upstream_timeout"
        )
    return UpstreamError(
        f"Could not reach the upstream: {type(exc).__name__}: {exc}",
        status=502,
        code="upstream_unreachable",
    )


def broken_response_error(exc: httpx2.HTTPError, idle_timeout: float | None) -> UpstreamError:
    """The proxy's error for a response that broke off after its status line: a read timeout
    (the upstream went silent) or a lost connection. Never retried: the upstream did the work."""
    if isinstance(exc, httpx2.ReadTimeout):
        silent = f" for {idle_timeout:g} s" if idle_timeout else ""
        return UpstreamError(
            f"The upstream stopped sending{silent}.", status=504, code="upstream_idle_timeout"
        )
    if isinstance(exc, httpx2.TimeoutException):
        return transport_error(exc)
    return UpstreamError(
        f"The upstream connection broke off mid-response: {type(exc).__name__}.",
        status=502,
        code="upstream_connection_lost",
    )


def _retryable_transport_error(exc: httpx2.HTTPError) -> bool:
    """Whether nothing can have reached the upstream's model (connecting failed, or the
    connection closed before any response byte); read timeouts are not retried."""
    return not isinstance(exc, httpx2.TimeoutException) or isinstance(exc, httpx2.ConnectTimeout)


def _delay(attempt: int, headers: httpx2.Headers | None) -> float:
    if headers is not None and "retry-after" in headers:
        try:
            wanted = float(headers["retry-after"])
            if 0 <= wanted <= MAX_RETRY_AFTER:
                return wanted
        except ValueError:
            pass
    return float(min(0.5 * 2**attempt, 8.0) * (0.75 + random.random() / 2))


class DirectTransport:
    """Posts chat completions over an ``AsyncOpenAI`` client's own connection pool.

    ``idle_timeout`` (seconds) is the read timeout of streaming responses: a stream that sends
    nothing for that long is abandoned (``None``: the client's read timeout).
    """

    def __init__(
        self, client: openai.AsyncOpenAI, max_retries: int, idle_timeout: float | None = None
    ) -> None:
        self.http: httpx2.AsyncClient = client._client
        # Built once: parsing URLs and merging headers per request is most of a client's cost.
        self.url = httpx2.URL(str(client.base_url).rstrip("/") + "/chat/completions")
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        headers.update(
            {
                "authorization": f"Bearer {client.api_key}",
                "content-type": "application/json",
                "accept": "application/json",
            }
        )
        self.headers = httpx2.Headers(headers)
        #: the upstream key, scrubbed from upstream error messages (some upstreams echo it)
        self.secret = client.api_key if len(client.api_key or "") >= 8 else ""
        self.max_retries = max_retries
        timeout = client.timeout
        if not isinstance(timeout, httpx2.Timeout):
            timeout = httpx2.Timeout(timeout if isinstance(timeout, float | int) else None)
        self.extensions = {"timeout": timeout.as_dict()}
        self.idle_timeout = idle_timeout if idle_timeout and idle_timeout > 0 else None
        self.stream_extensions = self.extensions
        if self.idle_timeout is not None:
            self.stream_extensions = {"timeout": {**timeout.as_dict(), "read": self.idle_timeout}}

    def _request(self, body: dict[str, Any], stream: bool) -> httpx2.Request:
        content = json.dumps(body, separators=(",", ":")).encode()
        extensions = self.stream_extensions if stream else self.extensions
        return httpx2.Request(
            "POST", self.url, headers=self.headers, content=content, extensions=extensions
        )

    async def _send(self, body: dict[str, Any], stream: bool) -> httpx2.Response:
        """Send with retries on connection errors and retryable statuses, only until the
        upstream's status line arrives; returns the open response (the caller reads and closes
        it). An error the retry layer gave up on says ``x-should-retry: false``: a client
        retrying it too would multiply the calls."""
        attempt = 0
        while True:
            try:
                response = await self.http.send(self._request(body, stream), stream=True)
            except httpx2.HTTPError as exc:
                if attempt >= self.max_retries or not _retryable_transport_error(exc):
                    raise transport_error(exc) from exc
                await anyio.sleep(_delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            content = await response.aread()
            await response.aclose()
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                await anyio.sleep(_delay(attempt, response.headers))
                attempt += 1
                continue
            error = self._scrubbed(status_error(response.status_code, content, response.headers))
            if self.max_retries > 0:
                error.headers["x-should-retry"] = "false"
            raise error

    def _scrubbed(self, error: UpstreamError) -> UpstreamError:
        """``error`` with the upstream key masked in its message."""
        if self.secret and self.secret in error.message:
            error.message = error.message.replace(self.secret, "***")
        return error

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """One completion: the upstream's JSON body."""
        response = await self._send(body, stream=False)
        try:
            content = await response.aread()
        except httpx2.HTTPError as exc:
            raise broken_response_error(exc, None) from exc
        finally:
            await response.aclose()
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise UpstreamError(
                "Invalid upstream response: not JSON.", status=502, code="upstream_bad_response"
            ) from exc
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamError(
                "Invalid upstream response: not a chat completion.",
                status=502,
                code="upstream_bad_response",
            )
        return data

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The upstream's chunks as they arrive, until ``[DONE]``."""
        response = await self._send(body, stream=True)
        try:
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError as exc:
                    raise UpstreamError(
                        "Invalid upstream stream chunk.", status=502, code="upstream_bad_response"
                    ) from exc
                if isinstance(chunk, dict) and "error" in chunk:
                    raise self._scrubbed(
                        UpstreamError(
                            f"Upstream stream error: {chunk['error']}",
                            status=502,
                            code="upstream_stream_error",
                        )
                    )
                yield chunk
        except httpx2.HTTPError as exc:
            raise broken_response_error(exc, self.idle_timeout) from exc
        finally:
            await response.aclose()
