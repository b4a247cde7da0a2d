"""Install optillm-core and every distribution under packages/ into the current Python.

torch, when some distribution needs it, is installed first from the pinned CPU build so that pip
never pulls a CUDA build. Usage: ``python scripts/install.py [--no-editable]``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_PIN = "torch==2.13.0"
TORCH_USERS = {"torch", "transformers", "peft", "accelerate"}


def distributions() -> list[Path]:
    """Every distribution folder under packages/."""
    found = {p.parent for p in ROOT.glob("packages/*/pyproject.toml")}
    found |= {p.parent for p in ROOT.glob("packages/*/*/pyproject.toml")}
    return sorted(found)


def requirement_name(requirement: str) -> str:
    """The bare project name of a requirement string."""
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop)[0]
    return requirement.strip().lower()


def needs_torch(folders: list[Path]) -> bool:
    """Whether any distribution depends on torch or a library built on it."""
    for folder in folders:
        project = tomllib.loads((folder / "pyproject.toml").read_text()).get("project", {})
        deps = list(project.get("dependencies", []))
        for extra in project.get("optional-dependencies", {}).values():
            deps += extra
        if any(requirement_name(dep) in TORCH_USERS for dep in deps):
            return True
    return False


def pip(*args: str) -> None:
    """Run pip in this interpreter."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], check=True)


def main() -> int:
    """Install everything; returns the exit status."""
    editable = "--no-editable" not in sys.argv
    folders = distributions()
    pip("hatchling>=1.25", "editables")
    if needs_torch(folders):
        pip(TORCH_PIN)
    targets = [str(ROOT), *(str(folder) for folder in folders)]
    args = [arg for target in targets for arg in (("-e", target) if editable else (target,))]
    pip("--no-build-isolation", *args)
    print(f"installed optillm-core and {len(folders)} distributions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
