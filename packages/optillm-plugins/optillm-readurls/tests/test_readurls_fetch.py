"""What readurls inserts: caps on size and time, concurrency, which messages it reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from readurls_site import ask, sent, serve_site

from optillm_core.testing import ApproachContract, FakeUpstream, make_app, openai_client
from optillm_readurls import plugin as readurls_plugin


class TestReadUrlsContract(ApproachContract):
    plugin = readurls_plugin
    slug = "readurls"


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, int]]:
    with serve_site() as served:
        yield served


def allow(port: int, **more: Any) -> dict[str, Any]:
    return {"allow_hosts": [f"127.0.0.1:{port}"], **more}


@pytest.mark.anyio
async def test_size_caps_truncate_the_page(site: tuple[str, int]) -> None:
    root, port = site
    fake = await ask(f"Read {root}/big", operator=allow(port, max_bytes=1000))
    user = fake.bodies[0]["messages"][0]["content"]
    assert "(truncated)" in user
    assert user.split("web text: ")[1].count("x") == 1000


@pytest.mark.anyio
@pytest.mark.parametrize(("requested", "kept"), [(50, 50), (5000, 200)])
async def test_a_request_may_lower_max_chars_but_not_raise_it(
    site: tuple[str, int], requested: int, kept: int
) -> None:
    root, port = site
    fake = await ask(
        f"Read {root}/big",
        operator=allow(port, max_chars=200),
        extra_body={"max_chars": requested},
    )
    user = fake.bodies[0]["messages"][0]["content"]
    assert user.split("web text: ")[1].count("x") == kept
    assert "max_chars" not in fake.bodies[0]


@pytest.mark.anyio
async def test_a_slow_page_times_out(site: tuple[str, int]) -> None:
    root, port = site
    started = time.monotonic()
    fake = await ask(f"Read {root}/slow?delay=1.5", operator=allow(port, timeout=0.3))
    assert time.monotonic() - started < 2.0
    assert "[Could not fetch: timed out after 0.3 s]" in sent(fake)


@pytest.mark.anyio
async def test_urls_are_fetched_concurrently(site: tuple[str, int]) -> None:
    root, port = site
    urls = " ".join(f"{root}/slow?delay=0.4&id={i}" for i in range(4))
    started = time.monotonic()
    fake = await ask(f"Compare {urls}", operator=allow(port))
    elapsed = time.monotonic() - started
    assert all(f"slow page {i} done" in sent(fake) for i in range(4))
    assert elapsed < 1.2, f"four 0.4 s pages took {elapsed:.2f} s: not concurrent"


@pytest.mark.anyio
async def test_unreadable_pages_are_reported_not_fatal(site: tuple[str, int]) -> None:
    root, port = site
    fake = await ask(f"Read {root}/binary and {root}/missing.", operator=allow(port))
    user = fake.bodies[0]["messages"][0]["content"]
    assert f"{root}/binary [Could not fetch: unsupported content type 'image/png']" in user
    assert f"{root}/missing [Could not fetch: HTTP 404]." in user


@pytest.mark.anyio
async def test_max_urls_limits_the_fetches(site: tuple[str, int]) -> None:
    root, port = site
    fake = await ask(f"Read {root}/page and {root}/host", operator=allow(port, max_urls=1))
    user = fake.bodies[0]["messages"][0]["content"]
    assert "North | 4.2" in user
    assert f"{root}/host [Not fetched: more than 1 URLs in the request]" in user


@pytest.mark.anyio
async def test_only_user_messages_are_read_and_each_page_is_inserted_once(
    site: tuple[str, int],
) -> None:
    root, port = site
    fake = FakeUpstream("ok")
    messages = [
        {"role": "system", "content": f"Never read {root}/secret"},
        {"role": "user", "content": [{"type": "text", "text": f"See {root}/page."}]},
        {"role": "assistant", "content": f"Also {root}/secret?"},
        {"role": "user", "content": f"Yes, {root}/page again"},
    ]
    app = make_app(fake, [readurls_plugin], plugin_options={"readurls": allow(port)})
    async with openai_client(app) as client:
        await client.chat.completions.create(model="readurls-fake-model", messages=messages)
    sent_messages = fake.bodies[0]["messages"]
    assert sent_messages[0] == messages[0] and sent_messages[2] == messages[2]
    assert "North | 4.2" in sent_messages[1]["content"][0]["text"]
    assert sent_messages[3] == messages[3]
    assert "TOP-SECRET" not in sent(fake)


@pytest.mark.anyio
async def test_a_request_without_urls_goes_through_unchanged() -> None:
    fake = await ask("Just a question, no links.")
    assert fake.bodies[0]["messages"] == [{"role": "user", "content": "Just a question, no links."}]
