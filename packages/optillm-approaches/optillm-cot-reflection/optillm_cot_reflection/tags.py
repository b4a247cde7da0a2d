"""The ``<output>`` section of a tagged reply: extraction from finished text, and an
incremental filter for streamed text.

Both follow one rule: the answer is the text after the first ``<output>`` up to the next
``</output>`` (to the end when the closing tag is missing), without surrounding whitespace;
a reply without ``<output>`` has no output section.
"""

from __future__ import annotations

OPEN = "<output>"
CLOSE = "</output>"


def extract_output(text: str) -> str | None:
    """The stripped text inside the first ``<output>`` section; ``None`` when there is none.

    An unterminated section runs to the end of the text.
    """
    start = text.find(OPEN)
    if start < 0:
        return None
    rest = text[start + len(OPEN) :]
    end = rest.find(CLOSE)
    return (rest if end < 0 else rest[:end]).strip()


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class OutputFilter:
    """Feeds on streamed text and lets through only the ``<output>`` section, as it arrives.

    Text that might still turn out to be part of a tag, and whitespace that might turn out to
    be the section's trailing whitespace, is held back until the next piece decides. The text
    before ``<output>`` is kept, because a reply that never opens the section is, as a whole,
    the answer (see :meth:`finish`).
    """

    def __init__(self) -> None:
        self.state = "before"  # before | inside | after
        self._before: list[str] = []
        self._pending = ""
        self._started = False

    @property
    def seen_output(self) -> bool:
        """Whether the ``<output>`` tag has arrived."""
        return self.state != "before"

    def feed(self, piece: str) -> str:
        """Take the next piece of text; return the output text that is now certain."""
        if self.state == "after" or not piece:
            return ""
        text = self._pending + piece
        self._pending = ""
        if self.state == "before":
            start = text.find(OPEN)
            if start < 0:
                keep = _partial_tag(text, OPEN)
                self._before.append(text[: len(text) - keep])
                self._pending = text[len(text) - keep :]
                return ""
            self._before.append(text[:start])
            self.state = "inside"
            text = text[start + len(OPEN) :]
        end = text.find(CLOSE)
        if end >= 0:
            self.state = "after"
            return self._emit(text[:end].rstrip())
        cut = len(text) - _partial_tag(text, CLOSE)
        ready = text[:cut].rstrip()
        self._pending = text[len(ready) :]
        return self._emit(ready)

    def finish(self) -> str:
        """The rest once the stream has ended: an unterminated section's held-back tail, or
        (when the section never opened) the whole text."""
        if self.state == "before":
            self.state = "after"
            return "".join([*self._before, self._pending]).strip()
        if self.state == "inside":
            self.state = "after"
            return self._emit(self._pending.rstrip())
        return ""

    def _emit(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text
