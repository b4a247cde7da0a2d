"""Formalizations for Z3: reading them out of a reply, the programs that solve them, and
judging what the solver reported.

An SMT-LIB formalization is never turned into Python: a fixed runner program (below) reads it
from stdin inside the sandbox, parses it with ``z3.parse_smt2_string`` (``Optimize.from_string``
when it has objectives), solves it under Z3's own timeout and prints the result and the model.
A Python formalization (z3 or sympy) runs as the sandbox's program itself.
"""

from __future__ import annotations

import ast
import enum
import re
from dataclasses import dataclass

from optillm_core.codeexec import fenced_blocks
from optillm_core.sandbox import SandboxResult

SMT_LANGUAGES = ("smt2", "smt", "smtlib", "smtlib2", "smt-lib", "smt-lib2", "z3", "lisp", "scheme")
PYTHON_LANGUAGES = ("python", "py", "python3")
_MARKER = re.compile(r"SOLVER_CAN_BE_APPLIED\W*(true|false|yes|no)", re.IGNORECASE)

#: Solves the SMT-LIB text on stdin; ``{timeout_ms}`` is filled in. Runs in the sandbox.
SMT_RUNNER = """\
import sys
import z3

source = sys.stdin.read()
optimize = "(minimize" in source or "(maximize" in source
solver = z3.Optimize() if optimize else z3.Solver()
solver.set("timeout", {timeout_ms})
try:
    if optimize:
        solver.from_string(source)
    else:
        solver.add(z3.parse_smt2_string(source))
except z3.Z3Exception as exc:
    message = exc.args[0] if exc.args else exc
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    print("SMT-LIB error:", str(message).strip(), file=sys.stderr)
    sys.exit(2)
result = solver.check()
print("result:", result)
if result == z3.sat:
    model = solver.model()
    print("model:")
    for decl in sorted(model.decls(), key=lambda d: d.name()):
        print(f"  {{decl.name()}} = {{model[decl]}}")
elif result == z3.unknown:
    print("reason:", solver.reason_unknown())
"""


class Kind(enum.StrEnum):
    """How a problem is written for the solver."""

    SMT = "smt2"
    PYTHON = "python"


@dataclass(frozen=True)
class Formalization:
    """A problem written for the solver: SMT-LIB text or a Python program."""

    kind: Kind
    text: str


def solver_applies(analysis: str) -> bool:
    """Whether the analysis says ``SOLVER_CAN_BE_APPLIED: True`` (its first such marker)."""
    found = _MARKER.search(analysis)
    return found is not None and found.group(1).lower() in ("true", "yes")


def extract(reply: str, allow_python: bool) -> Formalization | None:
    """The reply's formalization: its first SMT-LIB block (a block without a language that
    starts with ``(`` counts), else — when allowed — its first Python block."""
    for block in fenced_blocks(reply, SMT_LANGUAGES):
        return Formalization(Kind.SMT, block)
    for block in fenced_blocks(reply, ("",)):
        if block.lstrip().startswith(("(", ";")):
            return Formalization(Kind.SMT, block)
    if allow_python:
        for block in fenced_blocks(reply, PYTHON_LANGUAGES):
            return Formalization(Kind.PYTHON, block)
    return None


def runner_for(formal: Formalization, solver_timeout: float) -> tuple[str, str | None]:
    """The sandbox program and its stdin for ``formal``."""
    if formal.kind is Kind.SMT:
        return SMT_RUNNER.format(timeout_ms=max(1, round(solver_timeout * 1000))), formal.text
    return formal.text, None


def syntax_error(formal: Formalization) -> str | None:
    """A Python formalization's syntax error, found without running it (None: it parses)."""
    if formal.kind is not Kind.PYTHON:
        return None
    try:
        ast.parse(formal.text)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def failure(formal: Formalization, result: SandboxResult) -> str | None:
    """Why a run did not produce a usable solver result (None when it did).

    SMT-LIB: the runner must finish and report ``sat`` or ``unsat`` (``unknown`` — usually
    Z3's timeout — is a failure, so the problem can be reformulated). Python: the program must
    finish and print something.
    """
    if result.timed_out:
        return "the solver run was stopped at its time limit"
    if result.exit_code != 0:
        return "the solver run failed"
    if formal.kind is Kind.SMT:
        status = next(
            (
                line.split(":", 1)[1].strip()
                for line in result.stdout.splitlines()
                if line.startswith("result:")
            ),
            "",
        )
        if status not in ("sat", "unsat"):
            return f"the solver could not decide the problem (result: {status or 'none'})"
        return None
    if not result.stdout.strip():
        return "the program printed nothing"
    return None
