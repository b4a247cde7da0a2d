"""The processor ``readurls``: the pages a user links are read and put into the prompt.

Technique: retrieval by link — fetch every ``http(s)`` URL of the user's messages
concurrently, turn the HTML into clean text (main content preferred, tables kept) and insert it
next to its URL, then run the rest of the plan on the enriched request (e.g.
``readurls&memory``). Paper: none (optillm's ``readurls`` plugin; the ``readurls&memory``
pipeline is evaluated on Google FRAMES, https://arxiv.org/abs/2409.12941).

SSRF-safe by default: each host is resolved once and the connection goes to the checked
address; loopback, private, link-local, CGNAT, multicast, reserved and cloud-metadata addresses
are refused, after every redirect too (redirects are followed by hand, with a hop limit); only
http and https; size and time are capped. Operators open intranet hosts with ``allow_hosts``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from optillm_core import (
    ApproachResult,
    CallNext,
    ChatRequest,
    Processor,
    RequestContext,
    TraceEntry,
    gather,
    hookimpl,
)

from .config import ReadUrlsConfig, effective_config
from .fetch import Fetcher, Limits, Page, Resolver, system_resolver
from .policy import DestinationPolicy
from .urls import describe, find_urls, insert_pages

ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"


class ReadUrls(Processor):
    """Inserts the text of every page linked in the user's messages; makes no upstream call.

    ``resolver(host, port) -> [addresses]`` is injectable (tests map names to loopback);
    ``transport`` replaces httpx's network transport (tests only).
    """

    slug = "readurls"
    summary = "Fetches the URLs in the user's messages (SSRF-safe) and inserts the page text."
    paper = None
    Config = ReadUrlsConfig

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.resolver = resolver
        self.transport = transport

    def client(self, config: ReadUrlsConfig) -> httpx.AsyncClient:
        """A client for one request: no redirects, no proxies from the environment, no
        connection reuse (each connection is pinned to one checked address and one SNI)."""
        return httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=config.verify_tls,
            timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": config.user_agent, "Accept": ACCEPT},
            transport=self.transport,
        )

    async def fetch_all(
        self, ctx: RequestContext, config: ReadUrlsConfig, urls: list[str]
    ) -> list[Page]:
        """Fetch ``urls`` concurrently (at most ``concurrency`` at once)."""
        policy = DestinationPolicy(
            config.allow_hosts,
            allow_private=config.allow_private,
            allowed_ports=config.allowed_ports,
        )
        limits = Limits(config.max_bytes, config.max_chars, config.timeout, config.max_redirects)
        limiter = anyio.CapacityLimiter(config.concurrency)
        async with self.client(config) as client:
            fetcher = Fetcher(client, policy, limits, self.resolver)

            async def one(url: str) -> Page:
                async with limiter:
                    started = time.perf_counter()
                    page = await fetcher.fetch(url)
                ctx.trace.add(
                    TraceEntry(
                        stage=ctx.stage,
                        kind="fetch",
                        latency_ms=round((time.perf_counter() - started) * 1000, 3),
                        status=page.status,
                        detail=page.host,
                    )
                )
                if page.status != "ok":
                    reason = page.refused or page.error
                    ctx.log.info("readurls: %s %s: %s", page.status, page.host, reason)
                return page

            return await gather(*(functools.partial(one, url) for url in urls))

    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: CallNext
    ) -> ApproachResult:
        """Fetch the linked pages, insert their text, run the rest of the plan."""
        config = effective_config(ctx)
        urls = find_urls(request.messages)
        if not urls:
            return await call_next(request)
        pages = await self.fetch_all(ctx, config, urls[: config.max_urls])
        notes = {page.url: describe(page) for page in pages}
        for url in urls[config.max_urls :]:
            notes[url] = f" [Not fetched: more than {config.max_urls} URLs in the request]"
        return await call_next(request.with_messages(insert_pages(request.messages, notes)))


@hookimpl
def register_processors(register: Callable[[Any], None]) -> None:
    """Register ``readurls``."""
    register(ReadUrls())
