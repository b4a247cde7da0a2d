"""SSRF: internal destinations are refused by default — directly, by name, by odd IP
spellings and after redirects — and their content never reaches the upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from readurls_site import SECRET, One, ask, sent, serve_site

from optillm_readurls.plugin import ReadUrls


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[str, int]]:
    with serve_site() as served:
        yield served


@pytest.mark.anyio
async def test_page_is_fetched_when_the_operator_allows_the_loopback_server(
    site: tuple[str, int],
) -> None:
    root, port = site
    fake = await ask(
        f"Summarize {root}/page please.", operator={"allow_hosts": [f"127.0.0.1:{port}"]}
    )
    user = fake.bodies[0]["messages"][0]["content"]
    assert user.startswith(f"Summarize {root}/page [Content from 127.0.0.1")
    assert "Revenue grew by 12 percent in the third quarter." in user
    assert "Region | Revenue" in user and "North | 4.2" in user
    assert user.endswith("] please.")
    for junk in ("SCRIPT-TEXT", "NAV-LINKS", "FOOTER-TEXT", "<p>"):
        assert junk not in user


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://127.1:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f000001:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://[::1]:{port}/secret",
    ],
)
async def test_loopback_is_refused_by_default(site: tuple[str, int], url: str) -> None:
    _, port = site
    target = url.format(port=port)
    fake = await ask(f"Read {target}", operator={"allowed_ports": []})
    assert SECRET not in sent(fake)
    assert f"{target} [Not fetched:" in fake.bodies[0]["messages"][0]["content"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
        ("http://10.0.0.8/", "private"),
        ("http://100.64.1.1/", "carrier-grade NAT"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("ftp://files.example.com/report.txt", None),
        ("http://user:pass@8.8.8.8/", "credentials"),
        ("http://8.8.8.8:6379/", "port 6379"),
    ],
)
async def test_internal_and_odd_destinations_are_refused_without_connecting(
    url: str, reason: str | None
) -> None:
    fake = await ask(f"Read {url} now")
    user = fake.bodies[0]["messages"][0]["content"]
    if reason is None:  # not http(s): not even recognised as a link
        assert user == f"Read {url} now"
    else:
        assert "[Not fetched:" in user and reason in user


@pytest.mark.anyio
@pytest.mark.parametrize(
    "target",
    ["http://localhost:{port}/secret", "http://169.254.169.254/", "http://127.0.0.1:1/secret"],
)
async def test_a_redirect_to_an_internal_address_is_refused(
    site: tuple[str, int], target: str
) -> None:
    root, port = site
    start = f"{root}/redirect?to={target.format(port=port)}"
    fake = await ask(f"Read {start}", operator={"allow_hosts": f"127.0.0.1:{port}"})
    assert SECRET not in sent(fake)
    assert "[Not fetched:" in fake.bodies[0]["messages"][0]["content"]


@pytest.mark.anyio
async def test_a_redirect_within_the_allowed_server_is_followed(site: tuple[str, int]) -> None:
    root, port = site
    fake = await ask(
        f"Read {root}/redirect?to=/page", operator={"allow_hosts": [f"127.0.0.1:{port}"]}
    )
    assert "North | 4.2" in sent(fake)


@pytest.mark.anyio
async def test_redirect_loops_stop_at_the_hop_limit(site: tuple[str, int]) -> None:
    root, port = site
    operator = {"allow_hosts": [f"127.0.0.1:{port}"], "max_redirects": 2}
    fake = await ask(f"Read {root}/loop", operator=operator)
    assert "[Could not fetch: more than 2 redirects]" in sent(fake)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"allow_private": True},
        {"allow_hosts": ["127.0.0.1"]},
        {"optillm": {"readurls": {"allowed_ports": []}}},
        {"verify_tls": False},
    ],
)
async def test_a_request_cannot_open_destinations(
    site: tuple[str, int], body: dict[str, Any]
) -> None:
    root, _ = site
    with pytest.raises(openai.BadRequestError) as raised:
        await ask(f"Read {root}/secret", extra_body=body)
    assert "is set by the server operator only" in raised.value.message


@pytest.mark.anyio
async def test_connection_goes_to_the_checked_address_with_the_original_host(
    site: tuple[str, int],
) -> None:
    root, port = site
    calls: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return {"docs.intranet.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"]}[host]

    plugin = One(ReadUrls(resolver=resolver))
    operator = {"allow_hosts": [f"docs.intranet.test:{port}"], "allowed_ports": []}
    fake = await ask(
        f"Read http://docs.intranet.test:{port}/host and http://evil.test:{port}/secret",
        plugin,
        operator=operator,
    )
    assert f"you asked host=docs.intranet.test:{port}" in sent(fake)
    assert SECRET not in sent(fake)
    assert calls == ["docs.intranet.test", "evil.test"]  # resolved once each


@pytest.mark.anyio
async def test_allow_private_admits_private_but_never_loopback_or_metadata() -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return {"wiki.corp": ["10.1.2.3"], "sneaky.corp": ["10.1.2.3", "127.0.0.1"]}[host]

    seen: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="wiki page text", headers={"content-type": "text/plain"})

    plugin = One(ReadUrls(resolver=resolver, transport=httpx.MockTransport(network)))
    fake = await ask(
        "Read http://wiki.corp/a and http://sneaky.corp/b and http://169.254.169.254/",
        plugin,
        operator={"allow_private": True},
    )
    user = fake.bodies[0]["messages"][0]["content"]
    assert "http://wiki.corp/a [Content from wiki.corp, untrusted web text: wiki page text]" in user
    assert "http://sneaky.corp/b [Not fetched: 127.0.0.1 is a loopback address]" in user
    assert "http://169.254.169.254/ [Not fetched:" in user
    assert [(str(r.url), r.headers["host"]) for r in seen] == [("http://10.1.2.3/a", "wiki.corp")]


def test_the_default_policy_is_strict() -> None:
    config = ReadUrls.Config()
    assert config.allow_hosts == [] and config.allow_private is False
    assert config.allowed_ports == [80, 443] and config.verify_tls is True
