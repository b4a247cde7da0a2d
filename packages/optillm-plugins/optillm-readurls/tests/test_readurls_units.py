"""Pure parts of readurls: address rules, allow-list entries, URL finding, HTML to text."""

from __future__ import annotations

import pytest

from optillm_readurls.html_text import html_to_text
from optillm_readurls.policy import AllowEntry, DestinationPolicy, refusal_reason
from optillm_readurls.urls import clean_url, find_urls, insert_pages


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("fe80::1", "link-local (cloud metadata)"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.100.100.200", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.1.2.3", "reserved"),
        ("192.0.2.10", "not globally routable"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "link-local (cloud metadata)"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo of 127.0.0.1
    ],
)
def test_address_rules(address: str, reason: str | None) -> None:
    assert refusal_reason(address) == reason


def test_allow_entries() -> None:
    assert AllowEntry.parse("Wiki.Corp:8080") == AllowEntry("wiki.corp", 8080)
    assert AllowEntry.parse("[::1]:9000") == AllowEntry("::1", 9000)
    assert AllowEntry.parse("::1") == AllowEntry("::1")
    wildcard = AllowEntry.parse("*.corp.example")
    assert wildcard.matches("docs.corp.example", 443, ["10.0.0.1"])
    assert not wildcard.matches("corp.example.evil.com", 443, ["10.0.0.1"])
    network = AllowEntry.parse("10.0.0.0/8")
    assert network.matches("any.name", 80, ["10.2.3.4"])
    assert not network.matches("any.name", 80, ["10.2.3.4", "127.0.0.1"])


def test_policy_needs_every_address_public_and_an_allowed_port() -> None:
    policy = DestinationPolicy()
    assert policy.decide("ok.example", 443, ["8.8.8.8"]).address == "8.8.8.8"
    assert policy.decide("mixed.example", 443, ["8.8.8.8", "10.0.0.1"]).address is None
    assert policy.decide("ok.example", 8443, ["8.8.8.8"]).reason == "port 8443 is not allowed"
    assert policy.decide("gone.example", 443, []).address is None
    allowed = DestinationPolicy(["svc.local:8443"])
    assert allowed.decide("svc.local", 8443, ["127.0.0.1"]).address == "127.0.0.1"
    assert allowed.decide("svc.local", 8444, ["127.0.0.1"]).address is None
    private = DestinationPolicy(allow_private=True)
    assert private.decide("intra", 80, ["192.168.1.5"]).address == "192.168.1.5"
    assert private.decide("meta", 80, ["169.254.169.254"]).address is None


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("https://a.example/x.", "https://a.example/x"),
        ("https://a.example/x),", "https://a.example/x"),
        ("https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"),
        ("https://a.example/?q=1&r=2!", "https://a.example/?q=1&r=2"),
    ],
)
def test_clean_url(raw: str, clean: str) -> None:
    assert clean_url(raw) == clean


def test_find_and_insert() -> None:
    messages = [
        {"role": "system", "content": "http://sys.example/"},
        {"role": "user", "content": "Read [this](https://a.example/p) and https://b.example."},
        {"role": "user", "content": "again https://a.example/p"},
    ]
    assert find_urls(messages) == ["https://a.example/p", "https://b.example"]
    out = insert_pages(messages, {"https://a.example/p": " [A]", "https://b.example": " [B]"})
    assert out[1]["content"] == "Read [this](https://a.example/p [A]) and https://b.example [B]."
    assert out[2] == messages[2] and out[0] == messages[0]


def test_html_to_text_prefers_main_content_and_keeps_tables() -> None:
    html = """<html><head><title>T</title><style>.x{}</style></head><body>
    <header>Menu</header><div>Sidebar junk</div>
    <article><h2>Story</h2><p>It   happened[12] on Monday.</p>
    <table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td><p>two</p></td></tr></table>
    </article><script>alert(1)</script></body></html>"""
    assert html_to_text(html) == "T\nStory\nIt happened on Monday.\nA | B\n1 | two"


def test_html_without_main_uses_the_whole_body() -> None:
    html = "<body><div>Alpha</div><p>Beta &amp; gamma</p><main></main></body>"
    assert html_to_text(html) == "Alpha\nBeta & gamma"


def test_bad_allow_entries_are_a_config_error() -> None:
    from pydantic import ValidationError

    from optillm_readurls.config import ReadUrlsConfig

    assert ReadUrlsConfig(allow_hosts="a.corp:8080, 10.0.0.0/8").allow_hosts == [
        "a.corp:8080",
        "10.0.0.0/8",
    ]
    with pytest.raises(ValidationError, match="bad allow_hosts entry"):
        ReadUrlsConfig(allow_hosts=["wiki:port"])
