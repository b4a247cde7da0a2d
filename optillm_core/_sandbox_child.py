"""Sandbox bootstrap: the process that runs the untrusted code.

Not imported by the proxy: :mod:`optillm_core.sandbox` reads this file's source and runs it
with ``python -I -S -B -u -X utf8 -c SOURCE CONFIG`` as the unprivileged user. It

1. reads the program from stdin (a decimal length line, then that many UTF-8 bytes; whatever
   follows is left for the program's own ``input()``);
2. lowers its resource limits (soft and hard, so the program cannot raise them again);
3. appends the named site-packages directories to ``sys.path`` only when a third-party module
   was allowed;
4. installs the import filter and runs the program as ``__main__`` (file name ``<sandbox>``).

The import filter is defense in depth, not the security boundary: the boundary is the separate
process, the namespaces, the unprivileged uid and the resource limits.
"""

from __future__ import annotations

import builtins
import importlib
import json
import linecache
import os
import resource
import sys
import traceback
from collections.abc import Mapping, Sequence
from types import ModuleType, TracebackType
from typing import Any

_FILENAME = "<sandbox>"


def _read_exact(count: int) -> bytes:
    chunks = []
    while count > 0:
        chunk = os.read(0, min(count, 1 << 20))
        if not chunk:
            raise SystemExit("sandbox: program truncated")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _read_program() -> str:
    header = b""
    while not header.endswith(b"\n"):
        byte = os.read(0, 1)
        if not byte or len(header) > 20:
            raise SystemExit("sandbox: program header missing")
        header += byte
    return _read_exact(int(header)).decode("utf-8")


def _limit(resources: Sequence[Sequence[Any]]) -> None:
    for name, soft, hard in resources:
        which = getattr(resource, name)
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def _from_user_code(globals_: Mapping[str, object] | None) -> bool:
    name = (globals_ or {}).get("__name__")
    return name == "__main__" or name not in sys.modules


class ImportFilter:
    """Refuses imports the program itself asks for unless the policy names them.

    Imports made by library code (a module importing its own dependencies) pass through, so
    an allowed package keeps working even when it needs a module the program may not import.
    """

    def __init__(self, allowed: Sequence[str], denied: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        self.denied = frozenset(denied) - {a.partition(".")[0] for a in self.allowed}
        self.stdlib = frozenset(sys.stdlib_module_names)

    def permitted(self, name: str) -> bool:
        """Whether the program may import ``name``."""
        if any(name == a or name.startswith(a + ".") for a in self.allowed):
            return True
        top = name.partition(".")[0]
        return top in self.stdlib and top not in self.denied

    def check(self, name: str, globals_: Mapping[str, object] | None) -> None:
        """Raise ImportError when the program asks for a module it may not import."""
        if _from_user_code(globals_) and not self.permitted(name):
            raise ImportError(f"sandbox: import of {name!r} is not allowed", name=name)

    def install(self) -> None:
        """Wrap ``builtins.__import__`` and ``importlib.import_module``."""
        real_import = builtins.__import__
        real_import_module = importlib.import_module

        def guarded_import(
            name: str,
            globals: Mapping[str, object] | None = None,
            locals: Mapping[str, object] | None = None,
            fromlist: Sequence[str] | None = (),
            level: int = 0,
        ) -> ModuleType:
            if level == 0:
                self.check(name, globals)
            return real_import(name, globals, locals, fromlist, level)

        def guarded_import_module(name: str, package: str | None = None) -> ModuleType:
            if not name.startswith("."):
                self.check(name, sys._getframe(1).f_globals)
            return real_import_module(name, package)

        builtins.__import__ = guarded_import
        importlib.import_module = guarded_import_module


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without this bootstrap's own frames (before and after the program's)."""
    while tb is not None and tb.tb_frame.f_code.co_filename != _FILENAME:
        tb = tb.tb_next
    last_foreign = None
    node = tb
    while node is not None:
        if node.tb_frame.f_globals is not globals():
            last_foreign = node
        node = node.tb_next
    if last_foreign is not None:
        last_foreign.tb_next = None
    return tb


def _run(source: str) -> None:
    linecache.cache[_FILENAME] = (len(source), None, source.splitlines(True), _FILENAME)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(source, _FILENAME, "exec"), namespace)
    except SystemExit:
        raise
    except BaseException as exc:  # the program's own failure: report it like python does
        traceback.print_exception(type(exc), exc, _user_frames(exc.__traceback__))
        sys.stdout.flush()
        raise SystemExit(1) from None


def main() -> None:
    """Read the program, lock the process down, run the program."""
    cfg: dict[str, Any] = json.loads(sys.argv[1])
    source = _read_program()
    _limit(cfg["rlimits"])
    os.nice(cfg["nice"])
    guard = ImportFilter(cfg["allowed"], cfg["denied"])
    if any(a.partition(".")[0] not in guard.stdlib for a in guard.allowed):
        sys.path.extend(p for p in cfg["site_paths"] if p not in sys.path)
    vars(builtins).update(exit=sys.exit, quit=sys.exit)  # no ``site`` (-S): keep exit() working
    sys.argv = [_FILENAME]
    guard.install()
    _run(source)


if __name__ == "__main__":
    main()
