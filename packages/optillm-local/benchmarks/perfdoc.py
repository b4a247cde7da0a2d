"""Writes measured tables into the "## Local engine" section of docs/performance.md.

The section holds named blocks (``<!-- local:NAME -->`` … ``<!-- /local:NAME -->``); each script
replaces only its own block, and other sections of the file are left alone.
"""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs" / "performance.md"
SECTION = "## Local engine"
INTRO = (
    "Measured by `nox -s bench-local` (tiny model, and any model path given) and "
    "`nox -s local-real` (Gemma 3 270M through the proxy); numbers depend on the machine."
)


def update_block(name: str, markdown: str, path: Path = DOCS) -> Path:
    """Put ``markdown`` into block ``name`` of the local-engine section; returns the file."""
    text = path.read_text() if path.exists() else "# Performance\n"
    block = f"<!-- local:{name} -->\n{markdown.strip()}\n<!-- /local:{name} -->"
    section_re = re.compile(rf"^{re.escape(SECTION)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    found = section_re.search(text)
    section = found.group(0).rstrip() if found else f"{SECTION}\n\n{INTRO}"
    block_re = re.compile(
        rf"<!-- local:{re.escape(name)} -->.*?<!-- /local:{re.escape(name)} -->", re.S
    )
    if block_re.search(section):
        section = block_re.sub(lambda _: block, section)
    else:
        section = f"{section}\n\n{block}"
    if found:
        text = text[: found.start()] + section + "\n\n" + text[found.end() :].lstrip("\n")
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n")
    return path
