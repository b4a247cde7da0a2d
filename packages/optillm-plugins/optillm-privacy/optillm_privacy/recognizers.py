"""Recognizers that need no model and no network: an offline e-mail recognizer and a small
name heuristic. Imports presidio, so it is imported only when the analyzer is built."""

from __future__ import annotations

import re
from typing import Any

import tldextract
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer

_NAME = r"(?P<name>[A-Z][a-z\u00e0-\u00ff'\u2019-]+(?:[ \t]+[A-Z][a-z\u00e0-\u00ff'\u2019-]+){0,2})"

#: "my name is Alice Smith", "I'm Bob", "Dr. Jane Roe", "Mr Smith", "regards, Carol".
NAME_PATTERNS = (
    re.compile(
        r"(?i:\b(?:my name is|my name's|i am|i'm|i\u2019m|this is|call me|signed|regards,|"
        r"sincerely,|name:))[ \t]+" + _NAME
    ),
    re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Sir|Dame)\.?[ \t]+" + _NAME),
)

#: Capitalised words after "I am"/"this is" that are not names.
_NOT_NAMES = frozenset(
    {
        "A", "An", "The", "Not", "Sure", "Sorry", "Happy", "Glad", "Here", "Going", "Trying",
        "Looking", "Working", "Writing", "Just", "So", "Very", "Also", "Still", "In", "On", "At",
        "From", "It", "That", "This", "What", "Your", "My", "Our", "Their", "His", "Her",
    }
)  # fmt: skip


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, validating domains against tldextract's bundled snapshot
    of the public-suffix list instead of downloading the list."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._extract = tldextract.TLDExtract(
            cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True
        )

    def validate_result(self, pattern_text: str) -> bool:
        """True when the address ends in a known public suffix (no network access)."""
        return self._extract(pattern_text).fqdn != ""


class NameHeuristicRecognizer(EntityRecognizer):
    """Finds names in self-introductions and after titles — the simple cases a pattern can see
    when no NER model is installed. Recall is limited by design (see the README)."""

    def __init__(self, supported_language: str = "en", score: float = 0.6) -> None:
        super().__init__(
            supported_entities=["PERSON"],
            supported_language=supported_language,
            name="NameHeuristicRecognizer",
        )
        self.score = score

    def load(self) -> None:
        """Nothing to load."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: Any = None
    ) -> list[RecognizerResult]:
        """PERSON results for the names the patterns find."""
        if entities and "PERSON" not in entities:
            return []
        results: list[RecognizerResult] = []
        for pattern in NAME_PATTERNS:
            for match in pattern.finditer(text):
                words = match.group("name").split()
                while words and words[0] in _NOT_NAMES:
                    words.pop(0)
                if not words:
                    continue
                start = match.end("name") - len(match.group("name"))
                start = text.index(words[0], start)
                end = match.end("name")
                results.append(RecognizerResult("PERSON", start, end, self.score))
        return results
