"""Developer sessions. Every distribution under ``packages/`` is discovered, never listed.

``nox`` runs ``lint`` and ``tests``; ``nox -s bench`` prints the performance tables.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

# torch must come from the CPU wheel; anything that needs it gets this pin first.
TORCH_PIN = "torch==2.13.0"
TORCH_USERS = ("torch", "transformers", "peft", "accelerate")
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "TOKENIZERS_PARALLELISM": "false",
}


def distributions() -> list[Path]:
    """Every distribution folder under packages/ (any depth ≤ 2), sorted."""
    found = {p.parent for p in ROOT.glob("packages/*/pyproject.toml")}
    found |= {p.parent for p in ROOT.glob("packages/*/*/pyproject.toml")}
    return sorted(found)


def _dependencies(folder: Path) -> list[str]:
    data = tomllib.loads((folder / "pyproject.toml").read_text())
    project = data.get("project", {})
    deps = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    return deps


def needs_torch(folders: list[Path]) -> bool:
    """Whether any distribution depends on torch or a library built on it."""
    return any(
        dep.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower() in TORCH_USERS
        for folder in folders
        for dep in _dependencies(folder)
    )


def install_everything(session: nox.Session) -> None:
    """The core with its test extra, then every distribution, all editable."""
    folders = distributions()
    session.install("hatchling>=1.25", "editables")
    if needs_torch(folders):
        session.install(TORCH_PIN)
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


@nox.session(name="bench-local")
def bench_local(session: nox.Session) -> None:
    """Local engine throughput (needs optillm-local)."""
    install_everything(session)
    script = ROOT / "packages/optillm-local/benchmarks/local_bench.py"
    if not script.exists():
        session.error("optillm-local is not in this checkout")
    session.run("python", str(script), *session.posargs, env=OFFLINE_ENV)


if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True
