"""Chain of Code programs: what runs in the sandbox, and reading ``answer`` back out.

The model's program is run unchanged except for two things: lines that only draw plots are
commented out (there is no display, and plotting libraries are not importable), and a short
epilogue is appended that prints ``str(answer)``, JSON-encoded, after a random marker, so the
value can be told apart from whatever else the program prints.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

_PLOTTING = re.compile(r"\b(matplotlib|pyplot|plt\.|seaborn|sns\.)")
#: The longest ``str(answer)`` read back (longer values are cut with an ellipsis).
MAX_ANSWER_CHARS = 2000


@dataclass(frozen=True)
class Program:
    """A runnable program and the marker its epilogue prints before ``answer``."""

    source: str
    marker: str


def without_plotting(code: str) -> str:
    """``code`` with every line that mentions a plotting library commented out."""
    lines = []
    for line in code.splitlines():
        if _PLOTTING.search(line) and line.strip() and not line.lstrip().startswith("#"):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}pass  # plotting disabled: {line.strip()}"
        lines.append(line)
    return "\n".join(lines)


def prepare(code: str) -> Program:
    """The program to run: ``code`` (plots disabled) plus the epilogue that reports ``answer``."""
    marker = f"__optillm_coc_answer_{secrets.token_hex(6)}__"
    epilogue = (
        "\n\n# optillm coc: report the value of `answer`\n"
        "try:\n"
        "    answer\n"
        "except NameError:\n"
        "    raise SystemExit('coc: the program ended without setting the variable `answer`')\n"
        "import json as __optillm_json\n"
        "__optillm_text = str(answer)\n"
        f"if len(__optillm_text) > {MAX_ANSWER_CHARS}:\n"
        f"    __optillm_text = __optillm_text[:{MAX_ANSWER_CHARS}] + '…'\n"
        f"print({marker!r} + __optillm_json.dumps(__optillm_text), flush=True)\n"
    )
    return Program(without_plotting(code).rstrip() + epilogue, marker)


def read_answer(stdout: str, marker: str) -> str | None:
    """``str(answer)`` as the epilogue printed it (None when the line is missing)."""
    found = None
    for line in stdout.splitlines():
        if line.startswith(marker):
            found = line[len(marker) :]
    if found is None:
        return None
    try:
        value = json.loads(found)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def program_output(stdout: str, marker: str) -> str:
    """What the program itself printed (the epilogue's line removed)."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith(marker))


def simulated_answer(text: str) -> str:
    """The value from a simulation reply: its last ``ANSWER:`` line, else the whole reply."""
    matches = re.findall(
        r"^\s*[*_]*answer[*_]*\s*:[*_]*\s*(.+?)\s*$", text, re.MULTILINE | re.IGNORECASE
    )
    return matches[-1].strip().strip("`*") if matches else text.strip()


def prose(reply: str, limit: int = 600) -> str:
    """The reply's words outside its code blocks, whitespace collapsed, at most ``limit``
    characters (cut at a sentence end where possible)."""
    text = " ".join(re.sub(r"```.*?(?:```|\Z)", " ", reply, flags=re.DOTALL).split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 3 else cut.rstrip() + "…"
