"""LiteLLM's exceptions as the proxy's ``UpstreamError``, mapped like the ``openai`` upstream.

LiteLLM raises subclasses of the ``openai`` SDK's exceptions that carry ``status_code``, so
the mapping needs no litellm import: a timeout is a 504, an unreachable provider a 502, a 4xx
keeps its status and message (a 429 its ``retry-after``), any other status becomes a 502.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import openai

from optillm_core import OptillmError, UpstreamError

_PREFIX = re.compile(r"^(?:litellm\.\w+:\s*)+")


def _message(exc: BaseException) -> str:
    """The exception's text without LiteLLM's ``litellm.<Class>:`` prefixes."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) and message else str(exc)
    return _PREFIX.sub("", text).strip() or type(exc).__name__


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and 100 <= status <= 599 else None


def _retry_after(exc: BaseException) -> dict[str, str]:
    """``{"retry-after": …}`` when the provider's response carried one."""
    sources: list[Any] = [getattr(exc, "litellm_response_headers", None)]
    response = getattr(exc, "response", None)
    sources.append(getattr(response, "headers", None))
    for headers in sources:
        if isinstance(headers, Mapping) or hasattr(headers, "get"):
            value = headers.get("retry-after")
            if value:
                return {"retry-after": str(value)}
    return {}


def translate_error(exc: BaseException) -> OptillmError:
    """Map an exception raised by ``litellm.acompletion`` (or its stream) to a proxy error."""
    if isinstance(exc, OptillmError):
        return exc
    if isinstance(exc, openai.APITimeoutError):  # litellm.Timeout (status 408)
        return UpstreamError(
            "The upstream did not answer in time.", status=504, code="upstream_timeout"
        )
    if isinstance(exc, openai.APIConnectionError):  # litellm.APIConnectionError (status 500)
        return UpstreamError(
            f"Could not reach the upstream: {_message(exc)}",
            status=502,
            code="upstream_unreachable",
        )
    status = _status(exc)
    if status is not None and 400 <= status < 500:
        return UpstreamError(
            f"Upstream error: {_message(exc)}",
            status=status,
            code=f"upstream_{status}",
            headers=_retry_after(exc),
        )
    if status is not None and status >= 500:
        return UpstreamError(
            f"Upstream server error {status}: {_message(exc)}",
            status=502,
            code="upstream_unavailable",
            headers=_retry_after(exc),
        )
    return UpstreamError(
        f"Invalid upstream response: {type(exc).__name__}: {_message(exc)}",
        status=502,
        code="upstream_bad_response",
    )
