"""Per-request placeholders: ``<EMAIL_ADDRESS_1_3fa9c2>`` ↔ the value it hides.

The six hex digits are random per request, so a placeholder cannot be guessed or collide with
text the user wrote. The map lives in memory for one request only and is never logged.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter


class PlaceholderMap:
    """The values of one request and their placeholders: the same value always gets the same
    placeholder, different values different ones."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or secrets.token_hex(3)
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self._pattern = re.compile(r"<[A-Z][A-Z0-9_]*_\d+_" + re.escape(self.tag) + ">")

    def __len__(self) -> int:
        return len(self._by_placeholder)

    @property
    def placeholders(self) -> list[str]:
        """Every placeholder handed out so far."""
        return list(self._by_placeholder)

    def placeholder(self, entity: str, value: str) -> str:
        """The placeholder of ``value`` (a new one, numbered per entity type, if it is new)."""
        known = self._by_value.get(value)
        if known is not None:
            return known
        kind = re.sub(r"[^A-Z0-9_]", "_", entity.upper()) or "PII"
        self._counts[kind] += 1
        made = f"<{kind}_{self._counts[kind]}_{self.tag}>"
        self._by_value[value] = made
        self._by_placeholder[made] = value
        return made

    def restore(self, text: str) -> str:
        """``text`` with every known placeholder replaced by its value."""
        if not self._by_placeholder or "<" not in text:
            return text
        return self._pattern.sub(lambda m: self._by_placeholder.get(m[0], m[0]), text)

    def hold_from(self, text: str) -> int:
        """Where a possible unfinished placeholder starts at the end of ``text`` (``len(text)``
        when there is none): streamed text from there on must wait for the next piece."""
        cut = text.rfind("<")
        if cut < 0 or not self._by_placeholder:
            return len(text)
        tail = text[cut:]
        if any(p.startswith(tail) and p != tail for p in self._by_placeholder):
            return cut
        return len(text)


class StreamRestorer:
    """Restores placeholders in streamed text pieces, keyed by (choice, field): only a tail
    that could be the start of a placeholder is held back until the next piece."""

    def __init__(self, mapping: PlaceholderMap) -> None:
        self.mapping = mapping
        self._pending: dict[tuple[object, ...], str] = {}

    def feed(self, key: tuple[object, ...], piece: str) -> str:
        """The restored text that can be sent now for ``key``."""
        text = self._pending.pop(key, "") + piece
        cut = self.mapping.hold_from(text)
        if cut < len(text):
            self._pending[key] = text[cut:]
        return self.mapping.restore(text[:cut])

    def flush(self, key: tuple[object, ...]) -> str:
        """Whatever is still held for ``key`` (the stream ended or the choice finished)."""
        return self.mapping.restore(self._pending.pop(key, ""))

    def pending_keys(self) -> list[tuple[object, ...]]:
        """Keys that still hold text."""
        return list(self._pending)
