"""Shared plumbing for approaches that execute code (``z3``, ``coc``, ``executecode``).

Three things every such approach must do the same way, so they live here once:

* the selection policy (DESIGN §8.10): code runs when the client picked the approach by body
  field or model prefix (or the operator by ``--approach``); a plan chosen by an
  ``<optillm_approach>`` tag inside message text is refused unless the operator set
  ``allow_code_by_tag``, and so is any other source — :func:`require_explicit_selection`;
* one :class:`~optillm_core.sandbox.Sandbox` per approach instance, built lazily from the
  server settings (its probe is cached on it) — :class:`CodeRunner`;
* an entry in the request's trace and one structured log line per run, with the code's hash,
  never the code or its output — :meth:`CodeRunner.run`.

Plus the helpers they share: fenced code blocks out of a reply (:func:`fenced_blocks`), a
program's output as bounded, clearly delimited untrusted data for the next prompt
(:func:`output_for_prompt`), and the check of a configured list of importable third-party
modules (:func:`third_party_modules`). See ``docs/security.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sys
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from .accounting import TraceEntry
from .config import param
from .errors import InvalidRequestError
from .sandbox import Sandbox, SandboxError, SandboxLimits, SandboxOptions, SandboxResult

if TYPE_CHECKING:
    from .context import RequestContext

__all__ = [
    "EXPLICIT_SOURCES",
    "CodeRunner",
    "code_hash",
    "fenced_blocks",
    "output_for_prompt",
    "require_explicit_selection",
    "setting",
    "third_party_modules",
]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def setting(ctx: RequestContext, name: str, default: Any = False) -> Any:
    """A server setting as the request sees it (``default`` when the context has none)."""
    return getattr(ctx.state.settings, name, default)


#: Plan sources that count as an explicit choice of a code-executing approach.
EXPLICIT_SOURCES = frozenset({"body", "model", "server"})


def require_explicit_selection(ctx: RequestContext) -> None:
    """Refuse (400) a code-executing stage that the client did not choose explicitly.

    Explicit: the ``optillm_approach`` body field, a model prefix, or the operator's
    ``--approach``. A plan chosen by an ``<optillm_approach>`` tag in message text is refused
    unless the operator set ``allow_code_by_tag``: text inside messages can come from anyone
    who gets words into the conversation (a pasted document, a fetched page), so it must not
    switch on code execution. Any other source (a stage run on another stage's behalf that
    marks itself so) is refused too.
    """
    source = ctx.plan_source
    if source in EXPLICIT_SOURCES or (source == "tag" and setting(ctx, "allow_code_by_tag")):
        return
    how = "by an <optillm_approach> tag" if source == "tag" else f"this way ({source})"
    raise InvalidRequestError(
        f"The approach {ctx.stage!r} executes code and cannot be selected {how} on this "
        "server; select it with the 'optillm_approach' body field or a model prefix "
        "(operators may allow tags with allow_code_by_tag).",
        param="optillm_approach",
        code="code_execution_not_allowed",
    )


def code_hash(code: str) -> str:
    """``sha256:`` and the first 12 hex digits of the code's SHA-256 (for traces and logs)."""
    return "sha256:" + hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def fenced_blocks(text: str, languages: Iterable[str] = ("python", "py", "python3")) -> list[str]:
    """The bodies of the fenced code blocks of ``text`` whose language is in ``languages``.

    An empty string in ``languages`` also accepts blocks without a language. A final block
    whose closing fence is missing (a truncated reply) is included.
    """
    wanted = {lang.lower() for lang in languages}
    return [
        body.strip("\n")
        for lang, body in _FENCE.findall(text)
        if lang.lower() in wanted and body.strip()
    ]


def third_party_modules(names: list[str]) -> list[str]:
    """``names`` unchanged when each is a dotted module name outside the standard library;
    raises ``ValueError`` otherwise (for a config validator of a run's ``allowed_modules``:
    the standard library needs no allowing, and naming one of its denied modules, such as
    ``ctypes``, would lift the sandbox's import filter)."""
    for name in names:
        top = name.partition(".")[0]
        if not name.replace(".", "_").isidentifier() or top in sys.stdlib_module_names:
            raise ValueError(f"{name!r} is not a third-party module name")
    return names


def output_for_prompt(result: SandboxResult, limit: int = 4000) -> str:
    """What a run printed, as data for the model: exit status, stdout, stderr, each bounded.

    The text is attacker-influenced (the program may print anything it computed or read), so
    callers put it in a delimited block and tell the model it is data, not instructions.
    """
    parts: list[str] = []
    if result.timed_out:
        parts.append("The program was stopped: it ran past its time limit.")
    elif result.killed:
        parts.append(f"The program was killed by signal {-result.exit_code} (a resource limit).")
    elif result.exit_code != 0:
        parts.append(f"The program exited with status {result.exit_code}.")
    half = max(limit // 2, 1)
    if result.stdout.strip():
        parts.append("stdout:\n" + _clip(result.stdout, half if result.stderr.strip() else limit))
    if result.stderr.strip():
        parts.append("stderr:\n" + _clip(result.stderr, half if result.stdout.strip() else limit))
    if not result.stdout.strip() and not result.stderr.strip():
        parts.append("(the program printed nothing)")
    if result.truncated:
        parts.append("(output was truncated by the sandbox)")
    return "\n".join(parts)


def _clip(text: str, limit: int) -> str:
    text = text.rstrip("\n")
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n… [{len(text) - limit} characters omitted] …\n{text[-tail:]}"


class SandboxedConfig(BaseModel):
    """Config fields every code-running approach shares; subclass it for the approach's own."""

    model_config = ConfigDict(extra="forbid")

    run_timeout: float = param(
        30.0,
        "Wall-clock seconds one program run may take. Operator only.",
        operator_only=True,
        gt=0,
        le=600,
    )
    modules: list[str] = param(
        ["numpy", "sympy"],
        "Third-party modules programs may import (the standard library is always available). "
        "Operator only.",
        operator_only=True,
    )
    output_chars: int = param(
        4000, "Most characters of a run's output shown to the model.", ge=200, le=100_000
    )

    @field_validator("modules")
    @classmethod
    def _third_party_only(cls, value: list[str]) -> list[str]:
        return third_party_modules(value)


class CodeRunner:
    """The sandbox of one code-executing approach instance, and its bookkeeping per run.

    The :class:`Sandbox` is built on first use from ``options`` and the server settings
    (``sandbox_allow_no_network_isolation`` sets the waiver) and kept, so the host is probed
    once per approach instance; ``limits`` are the defaults of its runs (each run passes its
    own wall-clock ``timeout``).
    """

    def __init__(
        self, limits: SandboxLimits | None = None, options: SandboxOptions | None = None
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.options = options or SandboxOptions()
        self._sandboxes: dict[bool, Sandbox] = {}

    def sandbox(self, ctx: RequestContext) -> Sandbox:
        """The sandbox for this request's server settings."""
        waived = bool(setting(ctx, "sandbox_allow_no_network_isolation"))
        waived = waived or self.options.allow_no_network_isolation
        found = self._sandboxes.get(waived)
        if found is None:
            options = dataclasses.replace(self.options, allow_no_network_isolation=waived)
            found = self._sandboxes[waived] = Sandbox(self.limits, options)
        return found

    async def ensure_available(self, ctx: RequestContext) -> None:
        """Raise ``SandboxUnavailable``/``SandboxError`` now, before any upstream call is
        spent, when this host will not run code (probing it on first use)."""
        sandbox = self.sandbox(ctx)
        if not await sandbox.available():
            await sandbox.run("pass")  # raises the precise error, with its message for clients
            raise SandboxError("the code sandbox cannot run code on this host")  # not reached

    async def run(
        self,
        ctx: RequestContext,
        code: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the program's limit, not the caller's
        allowed_modules: Sequence[str] = (),
        stdin: str | None = None,
        label: str = "",
    ) -> SandboxResult:
        """Run ``code`` in the sandbox; record the run in the trace and the log.

        ``label`` (e.g. ``"attempt 2"``) goes into the log line. The trace entry is
        ``kind="sandbox"`` with ``detail="sha256:<12 hex> exit=<code> timed_out=<bool>"``;
        neither the code nor its output is recorded anywhere.
        """
        digest = code_hash(code if stdin is None else code + "\0" + stdin)
        started = time.perf_counter()
        try:
            result = await self.sandbox(ctx).run(
                code, timeout=timeout, allowed_modules=allowed_modules, stdin=stdin
            )
        except SandboxError as exc:
            self._record(ctx, started, exc.code or "sandbox_error", f"{digest} exit=- timed_out=-")
            ctx.log.warning("sandbox run %s %s refused: %s", digest, label, exc.code)
            raise
        status = _status(result)
        detail = f"{digest} exit={result.exit_code} timed_out={result.timed_out}"
        self._record(ctx, started, status, detail)
        ctx.log.info(
            "sandbox run %s%s: %s exit=%d timed_out=%s truncated=%s %.3fs (%s)",
            digest,
            f" {label}" if label else "",
            status,
            result.exit_code,
            result.timed_out,
            result.truncated,
            result.duration,
            result.isolation.mode,
        )
        return result

    @staticmethod
    def _record(ctx: RequestContext, started: float, status: str, detail: str) -> None:
        ctx.trace.add(
            TraceEntry(
                stage=ctx.stage,
                kind="sandbox",
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                status=status,
                detail=detail,
            )
        )


def _status(result: SandboxResult) -> str:
    if result.timed_out:
        return "timeout"
    if result.killed:
        return "killed"
    return "ok" if result.exit_code == 0 else "error"
