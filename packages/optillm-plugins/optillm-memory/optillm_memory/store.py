"""Notes kept across requests in one JSON file, separately for every memory key.

Keys are stored as SHA-256 hashes, so the file does not list who the users are. The file is
written atomically (temporary file + rename, mode 0600); within a process a lock serializes
updates. Several processes sharing one file may lose each other's updates (no file locking).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


def key_id(key: str) -> str:
    """The stored form of a memory key."""
    return hashlib.sha256(key.encode()).hexdigest()


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": FORMAT_VERSION, "keys": {}}
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise ValueError(f"{path} is not an optillm memory file")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def remember(path: str, key: str, notes: list[str], max_notes: int) -> list[str]:
    """Add ``notes`` to ``key``'s notes in the file (oldest dropped beyond ``max_notes``);
    return all of ``key``'s notes, the new ones last. Synchronous: run it in a thread."""
    file = Path(path).expanduser()
    data = _load(file)
    stored = [n for n in data["keys"].get(key_id(key), []) if isinstance(n, str)]
    merged = [n for n in stored if n not in notes] + notes
    merged = merged[-max_notes:]
    if notes:
        data["keys"][key_id(key)] = merged
        data["version"] = FORMAT_VERSION
        _save(file, data)
    return merged
