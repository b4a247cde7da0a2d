"""Chain of Code programs: what runs in the sandbox, and reading ``answer`` back out.

The model's program is run unchanged except for two things: lines that only draw plots are
commented out (there is no display, and plotting libraries are not importable), and a short
epilogue is appended that prints ``answer`` after a random marker line, so the value can be
told apart from whatever else the program prints.
"""

from __future__ import annotations

import ast
import re
import secrets
from dataclasses import dataclass

_PLOTTING = re.compile(r"\b(matplotlib|pyplot|plt\.|seaborn|sns\.)")
#: The longest repr of ``answer`` read back (longer values are cut with an ellipsis).
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
        "__optillm_repr = repr(answer)\n"
        f"if len(__optillm_repr) > {MAX_ANSWER_CHARS}:\n"
        f"    __optillm_repr = __optillm_repr[:{MAX_ANSWER_CHARS}] + '…'\n"
        f"print({marker!r} + __optillm_repr.replace('\\n', '\\\\n'), flush=True)\n"
    )
    return Program(without_plotting(code).rstrip() + epilogue, marker)


def read_answer(stdout: str, marker: str) -> str | None:
    """The value of ``answer`` the epilogue printed, as display text (None if missing).

    Literals are shown as Python would print them (``'abc'`` becomes ``abc``); anything else
    as its repr.
    """
    found = None
    for line in stdout.splitlines():
        if line.startswith(marker):
            found = line[len(marker) :]
    if found is None:
        return None
    try:
        return str(ast.literal_eval(found))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return found.replace("\\n", "\n")  # a multi-line repr (arrays, matrices)


def program_output(stdout: str, marker: str) -> str:
    """What the program itself printed (the epilogue's line removed)."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith(marker))


def simulated_answer(text: str) -> str:
    """The value from a simulation reply: its last ``ANSWER:`` line, else the whole reply."""
    matches = re.findall(r"^\s*\**ANSWER\**\s*:\s*(.+?)\s*$", text, re.MULTILINE | re.IGNORECASE)
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
