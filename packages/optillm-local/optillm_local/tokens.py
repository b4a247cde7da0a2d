"""Token-level text: exact token bytes for logprobs, incremental detokenization, stop strings.

Pure Python over a Hugging Face tokenizer; no torch.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_HEX_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
_SPIECE_SPACE = "\u2581"
_CONTEXT_TOKENS = 5


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character alphabet for bytes, inverted (char → byte)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in repr(decoder)


class TokenText:
    """Text and exact bytes of single tokens (cached), as OpenAI's logprobs report them."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.byte_level = _is_byte_level(tokenizer)
        self._cache: dict[int, tuple[str, list[int]]] = {}

    def _bytes(self, token_id: int) -> bytes:
        raw = self.tokenizer.convert_ids_to_tokens(token_id)
        if not isinstance(raw, str):
            return b""
        hex_byte = _HEX_BYTE.match(raw)
        if hex_byte:
            return bytes([int(hex_byte.group(1), 16)])
        if self.byte_level:
            table = _byte_decoder()
            if all(ch in table for ch in raw):
                return bytes(table[ch] for ch in raw)
        if _SPIECE_SPACE in raw:
            return raw.replace(_SPIECE_SPACE, " ").encode()
        text: str = self.tokenizer.decode([token_id], skip_special_tokens=False)
        return text.encode()

    def get(self, token_id: int) -> tuple[str, list[int]]:
        """``(text, bytes)`` of one token; text shows undecodable bytes as U+FFFD."""
        found = self._cache.get(token_id)
        if found is None:
            data = self._bytes(token_id)
            found = (data.decode("utf-8", errors="replace"), list(data))
            self._cache[token_id] = found
        return found


class Detokenizer:
    """Turns a growing list of token ids into text deltas (a window of context tokens is
    re-decoded, so spacing and multi-byte characters come out right)."""

    def __init__(self, tokenizer: Any, context: list[int] | None = None) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = list((context or [])[-_CONTEXT_TOKENS:])
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def _decode(self, ids: list[int]) -> str:
        text: str = self.tokenizer.decode(ids, skip_special_tokens=True)
        return text

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes (may be ``""`` while a character is
        still incomplete)."""
        self.ids.append(token_id)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return full[len(prefix) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end)."""
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        full = self._decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return full[len(prefix) :] if len(full) > len(prefix) else ""


class StopMatcher:
    """Finds stop strings in a growing text; says how much text is safe to show."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.longest = max((len(s) for s in self.stops), default=0)
        self.scanned = 0

    def find(self, text: str) -> int | None:
        """Index of the earliest stop string in ``text`` not seen before, else ``None``."""
        if not self.stops:
            return None
        start = max(0, self.scanned - self.longest + 1)
        self.scanned = len(text)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        return min(hits) if hits else None

    def safe_length(self, text: str) -> int:
        """Length of the prefix of ``text`` that cannot turn into a stop string."""
        for size in range(min(self.longest - 1, len(text)), 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return len(text) - size
        return len(text)
