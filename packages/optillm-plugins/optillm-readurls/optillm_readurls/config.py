"""Parameters of ``readurls`` and what a request may change.

Destination rules (``allow_hosts``, ``allow_private``, ``allowed_ports``, ``verify_tls``) and the
``user_agent`` belong to the operator: a request that changes them is refused (400, by the core:
the fields are ``operator_only``). Limits may be lowered per request; a higher value in the body
is clamped to the operator's.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import RequestContext, param

from .policy import AllowEntry

#: Parameters a request may lower but not raise (a higher value is clamped to the operator's).
LIMITS = (
    "max_urls",
    "max_bytes",
    "max_chars",
    "timeout",
    "connect_timeout",
    "max_redirects",
    "concurrency",
)


class ReadUrlsConfig(BaseModel):
    """Parameters of ``readurls``."""

    model_config = ConfigDict(extra="forbid")

    max_urls: int = param(10, "Most distinct URLs fetched per request; the rest are noted.", ge=0)
    max_bytes: int = param(
        2 * 1024 * 1024, "Most bytes read from one response (the rest is not downloaded).", ge=1
    )
    max_chars: int = param(100_000, "Most characters of page text inserted per URL.", ge=1)
    timeout: float = param(
        10.0, "Seconds one URL may take in all (every redirect hop included).", gt=0
    )
    connect_timeout: float = param(3.0, "Seconds to open one connection.", gt=0)
    max_redirects: int = param(3, "Redirects followed per URL (each hop re-checked).", ge=0)
    concurrency: int = param(4, "URLs fetched at once.", ge=1)
    allow_hosts: list[str] = param(
        [],
        "Hosts fetched even when they resolve to internal addresses, and on any port: "
        "'host', 'host:port', '*.example.com', '[::1]:8080' or a network '10.0.0.0/8' "
        "(comma-separated in flags and environment). Operator only.",
        operator_only=True,
    )
    allow_private: bool = param(
        False,
        "Allow private (RFC 1918, fc00::/7) and carrier-grade-NAT addresses. Loopback, "
        "link-local and cloud-metadata addresses stay refused. Operator only.",
        operator_only=True,
    )
    allowed_ports: list[int] = param(
        [80, 443], "Ports that may be fetched (empty: any). Operator only.", operator_only=True
    )
    verify_tls: bool = param(
        True, "Verify the certificates of https pages. Operator only.", operator_only=True
    )
    user_agent: str = param(
        "optillm-readurls/0.1 (+https://github.com/codelion/optillm)",
        "User-Agent header of the fetches. Operator only.",
        operator_only=True,
    )

    @field_validator("allow_hosts", "allowed_ports", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _check_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                AllowEntry.parse(entry)
            except ValueError as exc:
                raise ValueError(f"bad allow_hosts entry {entry!r}: {exc}") from exc
        return value


def effective_config(ctx: RequestContext) -> ReadUrlsConfig:
    """The request's configuration with its limits clamped to the operator's."""
    requested: ReadUrlsConfig = ctx.config
    operator: ReadUrlsConfig = ctx.operator_config()
    clamped = {name: min(getattr(requested, name), getattr(operator, name)) for name in LIMITS}
    return requested.model_copy(update=clamped)
