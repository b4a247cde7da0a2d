"""HTML to clean text with the standard library's parser.

Scripts, styles, navigation, headers, footers, asides and forms are dropped; the text of
``<main>``/``<article>`` (or ``role="main"``) is preferred when it holds the page's substance;
block elements become line breaks, tables become ``cell | cell`` rows; whitespace is collapsed
and bracketed footnote marks (``[12]``, ``[citation needed]``) are removed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "iframe", "nav", "footer", "header",
        "aside", "form", "button", "select", "head", "canvas", "object",
    }
)  # fmt: skip
BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li",
        "ul", "ol", "br", "table", "blockquote", "pre", "dd", "dt", "dl", "figcaption", "hr",
        "caption", "title", "summary", "details", "address",
    }
)  # fmt: skip
MAIN = frozenset({"main", "article"})
VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "source", "area", "col"})
_FOOTNOTE = re.compile(r"\[(?:\d{1,3}|[a-z]|citation needed|edit|note \d+)\]", re.IGNORECASE)
#: The main-content text is used when it has at least this share of the whole page's text.
MAIN_SHARE = 0.25


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.main = 0
        self.title: list[str] = []
        self.in_title = False
        self.all: list[str] = []
        self.main_text: list[str] = []
        self.rows: list[list[list[str]]] = []  # open tables → rows → cells

    def _emit(self, text: str) -> None:
        if self.rows and self.rows[-1]:
            self.rows[-1][-1].append(text)
            return
        self.all.append(text)
        if self.main:
            self.main_text.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in SKIP:
            if tag not in VOID:
                self.skip += 1
            return
        if self.skip:
            return
        if tag in MAIN or dict(attrs).get("role") == "main":
            self.main += 1
        if tag == "table":
            self.rows.append([])
        elif tag == "tr" and self.rows:
            self.rows[-1].append([])
        elif tag in ("td", "th") and self.rows and self.rows[-1]:
            self.rows[-1][-1].append("\t")
        elif tag in BLOCK:
            self._emit("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in MAIN and self.main:
            self.main -= 1
        if tag == "table" and self.rows:
            rows = self.rows.pop()
            lines = [_row(cells) for cells in rows]
            self._emit("\n" + "\n".join(line for line in lines if line) + "\n")
        elif tag in BLOCK:
            self._emit("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self._emit(data)


def _row(cells: list[str]) -> str:
    parts = [_clean_line(cell) for cell in "".join(cells).split("\t")]
    return " | ".join(part for part in parts if part)


def _clean_line(text: str) -> str:
    return re.sub(r"\s+", " ", _FOOTNOTE.sub("", text)).strip()


def _tidy(pieces: list[str]) -> str:
    lines = [_clean_line(line) for line in "".join(pieces).split("\n")]
    return "\n".join(line for line in lines if line)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page (title first when there is one)."""
    parser = _Extractor()
    parser.feed(html)
    parser.close()
    whole = _tidy(parser.all)
    main = _tidy(parser.main_text)
    body = main if main and len(main) >= MAIN_SHARE * len(whole) else whole
    title = _clean_line("".join(parser.title))
    if title and not body.startswith(title):
        return f"{title}\n{body}" if body else title
    return body
