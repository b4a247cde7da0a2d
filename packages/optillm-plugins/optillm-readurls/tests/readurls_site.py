"""A small web site for the readurls tests, served on a loopback port."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from optillm_core import hookimpl
from optillm_core.testing import FakeUpstream, make_app, openai_client, serve_app_in_thread
from optillm_readurls import plugin as readurls_plugin
from optillm_readurls.plugin import ReadUrls

SECRET = "TOP-SECRET-7f3a9c internal credentials"
PAGE = """<html><head><title>Quarterly report</title><script>var tracking = "SCRIPT-TEXT";</script>
</head><body><nav>NAV-LINKS Home | About</nav>
<main><h1>Results</h1><p>Revenue grew by 12 percent[3] in the third quarter.</p>
<table><tr><th>Region</th><th>Revenue</th></tr><tr><td>North</td><td>4.2</td></tr></table>
</main><footer>FOOTER-TEXT</footer></body></html>"""


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def secret(request: Request) -> Response:
    return PlainTextResponse(SECRET)


async def redirect(request: Request) -> Response:
    return RedirectResponse(request.query_params["to"], status_code=302)


async def loop(request: Request) -> Response:
    n = int(request.query_params.get("n", "0"))
    return RedirectResponse(f"/loop?n={n + 1}", status_code=301)


async def big(request: Request) -> Response:
    return PlainTextResponse("x" * 3_000_000)


async def slow(request: Request) -> Response:
    await anyio.sleep(float(request.query_params.get("delay", "5")))
    return PlainTextResponse(f"slow page {request.query_params.get('id', '')} done")


async def host(request: Request) -> Response:
    return PlainTextResponse(f"you asked host={request.headers.get('host')}")


async def binary(request: Request) -> Response:
    return Response(b"\x89PNG....", media_type="image/png")


async def missing(request: Request) -> Response:
    return PlainTextResponse("gone", status_code=404)


def site_app() -> Starlette:
    """The test site's routes."""
    return Starlette(
        routes=[
            Route("/page", page),
            Route("/secret", secret),
            Route("/redirect", redirect),
            Route("/loop", loop),
            Route("/big", big),
            Route("/slow", slow),
            Route("/host", host),
            Route("/binary", binary),
            Route("/missing", missing),
        ]
    )


@contextlib.contextmanager
def serve_site() -> Iterator[tuple[str, int]]:
    """Serve the site on 127.0.0.1 from a thread; yields ``("http://127.0.0.1:PORT", PORT)``."""
    with serve_app_in_thread(site_app()) as url:
        root = url.removesuffix("/v1")
        yield root, int(root.rsplit(":", 1)[1])


class One:
    """A plugin object registering one given ``ReadUrls``."""

    def __init__(self, processor: ReadUrls) -> None:
        self.processor = processor

    @hookimpl
    def register_processors(self, register: Callable[[Any], None]) -> None:
        register(self.processor)


async def ask(text: str, plugin: object = readurls_plugin, **options: Any) -> FakeUpstream:
    """Send ``text`` through ``readurls``; return the fake upstream that answered."""
    fake = FakeUpstream("ok")
    app = make_app(fake, [plugin], plugin_options={"readurls": options.pop("operator", {})})
    async with openai_client(app) as client:
        await client.chat.completions.create(
            model="readurls-fake-model",
            messages=[{"role": "user", "content": text}],
            **options,
        )
    return fake


def sent(fake: FakeUpstream) -> str:
    return json.dumps(fake.bodies, ensure_ascii=False)
