"""Fetching one URL safely: resolve once, check, connect to the checked address, follow
redirects by hand (re-checking every hop), cap time and size.

The connection goes to the validated IP (``Host`` header and TLS SNI keep the original name),
so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import httpx

from .html_text import html_to_text
from .policy import DestinationPolicy

#: ``resolver(host, port) -> addresses``; injectable so tests can map names to loopback.
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
TEXT_TYPES = ("text/", "application/json", "application/xhtml+xml", "application/xml")


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo in a worker thread)."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Page:
    """What fetching one URL gave: text, or why there is none (``refused`` or ``error``)."""

    url: str
    host: str
    text: str = ""
    refused: str | None = None
    error: str | None = None
    truncated: bool = False

    @property
    def status(self) -> str:
        """``ok``, ``refused`` or ``error`` (for the trace)."""
        return "refused" if self.refused else "error" if self.error else "ok"


class FetchRefused(Exception):
    """The destination is not allowed (never connected to)."""


class FetchFailed(Exception):
    """The page could not be read."""


@dataclass(frozen=True)
class Limits:
    """Caps of one fetch."""

    max_bytes: int
    max_chars: int
    timeout: float
    max_redirects: int


class Fetcher:
    """Fetches URLs through one pooled client, under a destination policy."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: DestinationPolicy,
        limits: Limits,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.client = client
        self.policy = policy
        self.limits = limits
        self.resolver = resolver

    async def fetch(self, url: str) -> Page:
        """The text of ``url``; never raises for a bad URL, a refusal or a failure."""
        host = _host_of(url)
        try:
            with anyio.fail_after(self.limits.timeout):
                text, truncated = await self._follow(url)
        except FetchRefused as exc:
            return Page(url, host, refused=str(exc))
        except TimeoutError:
            return Page(url, host, error=f"timed out after {self.limits.timeout:g} s")
        except FetchFailed as exc:
            return Page(url, host, error=str(exc))
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return Page(url, host, refused=f"invalid URL ({exc})")
        except httpx.HTTPError as exc:
            return Page(url, host, error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        if len(text) > self.limits.max_chars:
            text, truncated = text[: self.limits.max_chars], True
        return Page(url, host, text=text, truncated=truncated)

    async def _follow(self, url: str) -> tuple[str, bool]:
        current = httpx.URL(url)
        for hop in range(self.limits.max_redirects + 1):
            try:
                request = await self._pinned_request(current)
            except FetchRefused as exc:
                if hop:
                    raise FetchRefused(f"redirected to a refused destination ({exc})") from exc
                raise
            response = await self.client.send(request, stream=True)
            try:
                location = response.headers.get("location")
                if response.status_code in REDIRECTS and location:
                    current = current.join(location)
                    continue
                return await self._read(response)
            finally:
                await response.aclose()
                self.client.cookies.clear()
        raise FetchFailed(f"more than {self.limits.max_redirects} redirects")

    async def _pinned_request(self, url: httpx.URL) -> httpx.Request:
        """A GET to the checked address of ``url`` with the original Host and SNI."""
        if url.scheme not in ("http", "https"):
            raise FetchRefused(f"scheme {url.scheme!r} is not allowed (http and https only)")
        if url.userinfo:
            raise FetchRefused("URLs with credentials are not fetched")
        host = url.raw_host.decode("ascii").lower()
        if not host:
            raise FetchRefused("the URL has no host")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await self._resolve(host, port)
        decision = self.policy.decide(host, port, addresses)
        if decision.address is None:
            raise FetchRefused(decision.reason or "not allowed")
        netloc = f"[{host}]" if ":" in host else host
        headers = {"Host": netloc if url.port is None else f"{netloc}:{port}"}
        extensions = {}
        if url.scheme == "https" and not _is_ip(host):
            extensions["sni_hostname"] = host
        pinned = url.copy_with(host=decision.address.split("%")[0])
        return self.client.build_request("GET", pinned, headers=headers, extensions=extensions)

    async def _resolve(self, host: str, port: int) -> list[str]:
        if _is_ip(host):
            return [host]
        try:
            return await self.resolver(host, port)
        except OSError as exc:
            raise FetchFailed(f"could not resolve {host}: {exc.strerror or exc}") from exc

    async def _read(self, response: httpx.Response) -> tuple[str, bool]:
        if response.status_code >= 400:
            raise FetchFailed(f"HTTP {response.status_code}")
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind and not kind.startswith(TEXT_TYPES):
            raise FetchFailed(f"unsupported content type {kind!r}")
        body = bytearray()
        truncated = False
        async for piece in response.aiter_bytes():
            body += piece
            if len(body) > self.limits.max_bytes:  # stop downloading; keep the head
                truncated = True
                del body[self.limits.max_bytes :]
                break
        text = _decode(bytes(body), response.charset_encoding)
        if kind in ("", "text/html", "application/xhtml+xml") and "<" in text:
            text = html_to_text(text)
        return text.strip(), truncated


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, ValueError):
        return ""
