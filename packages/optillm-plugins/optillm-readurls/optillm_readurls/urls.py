"""Finding the URLs in the user's messages and putting each page's text next to its URL.

Only ``user`` messages are read (never system prompts, assistant turns, tool results or fetched
pages — no recursion). Each page is inserted once, after the first occurrence of its URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .fetch import Page

URL_PATTERN = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


def clean_url(raw: str) -> str:
    """``raw`` without trailing punctuation and unbalanced closing brackets."""
    url = raw
    while url:
        last = url[-1]
        unbalanced = last in _PAIRS and url.count(last) > url.count(_PAIRS[last])
        if last in _TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _texts(message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        ]
    return []


def find_urls(messages: list[dict[str, Any]]) -> list[str]:
    """The distinct URLs of the user messages, in order of first appearance."""
    found: list[str] = []
    for message in messages:
        if message.get("role") != "user":
            continue
        for text in _texts(message):
            for match in URL_PATTERN.finditer(text):
                url = clean_url(match.group())
                if url not in found:
                    found.append(url)
    return found


def describe(page: Page) -> str:
    """What is inserted after a URL: the page text, or why it is missing."""
    if page.refused:
        return f" [Not fetched: {page.refused}]"
    if page.error:
        return f" [Could not fetch: {page.error}]"
    cut = " (truncated)" if page.truncated else ""
    source = page.host or "the page"
    return f" [Content from {source}{cut}, untrusted web text: {page.text}]"


def _insert(text: str, notes: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        raw = match.group()
        url = clean_url(raw)
        note = notes.pop(url, None)
        if note is None:
            return raw
        return url + note + raw[len(url) :]

    return URL_PATTERN.sub(replace, text)


def insert_pages(messages: list[dict[str, Any]], notes: Mapping[str, str]) -> list[dict[str, Any]]:
    """A copy of ``messages`` with ``notes[url]`` after the first occurrence of each URL."""
    pending = dict(notes)
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") != "user" or not pending:
            out.append(message)
            continue
        out.append(_rewrite(message, lambda text: _insert(text, pending)))
    return out


def _rewrite(message: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": fn(content)}
    if isinstance(content, list):
        parts = [
            {**p, "text": fn(p["text"])}
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            else p
            for p in content
        ]
        return {**message, "content": parts}
    return message
