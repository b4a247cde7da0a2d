"""One error hierarchy for the whole proxy, rendered as OpenAI error JSON.

Approaches, processors and upstreams raise these; the server turns them into
``{"error": {"message", "type", "param", "code"}}`` with the right HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class OptillmError(Exception):
    """Base class: an error that the client sees as OpenAI-shaped JSON."""

    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error body for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(OptillmError):
    """The request is malformed or asks for something this server cannot do (400)."""

    status = 400
    type = "invalid_request_error"


class UnknownApproachError(InvalidRequestError):
    """A plan names a slug that no installed plugin provides (400)."""

    code = "unknown_approach"


class ConfigError(InvalidRequestError):
    """An approach parameter in the request failed validation (400)."""

    code = "invalid_approach_config"


class AuthenticationError(OptillmError):
    """Missing or wrong proxy API key (401)."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class BudgetExceededError(OptillmError):
    """A request would exceed its upstream call or token budget (429, not to be retried)."""

    status = 429
    type = "budget_exceeded"
    code = "budget_exceeded"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("x-should-retry", "false")


class UpstreamError(OptillmError):
    """The upstream model server failed or refused; the status follows the upstream's."""

    type = "upstream_error"


class ApproachError(OptillmError):
    """An approach could not produce an answer (unusable or truncated replies) (502)."""

    status = 502
    type = "approach_error"


class PluginError(Exception):
    """A plugin failed to load or registered something invalid (startup time, not HTTP)."""


def error_body(message: str, *, type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body for errors that have no exception object."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}
