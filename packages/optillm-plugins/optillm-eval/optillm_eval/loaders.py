"""Reading datasets: JSONL, CSV and JSON files, or Hugging Face datasets (see :mod:`.hub`).

A row has ``question`` and ``answer`` and optionally ``type``, ``id``, ``choices``, ``tests``
and ``system``. Rows without an ``id`` get one from a hash of their question and answer, so
results stay attached to their item when a file is reordered or extended.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import DatasetError
from .items import AUTO, Item, item_to_row, make_item

SUFFIXES = (".jsonl", ".ndjson", ".csv", ".json")


def _content_id(row: Mapping[str, Any]) -> str:
    text = json.dumps([str(row.get("question")), str(row.get("answer"))], ensure_ascii=False)
    return "q" + hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_jsonl(path: Path) -> list[tuple[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append((f"line {number}", json.loads(line)))
            except ValueError as exc:
                raise DatasetError(f"{path}: line {number} is not JSON: {exc}") from exc
    return rows


def _read_csv(path: Path) -> list[tuple[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return [(f"row {number}", row) for number, row in enumerate(reader, 2)]


def _read_json(path: Path) -> list[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{path} is not JSON: {exc}") from exc
    if isinstance(data, dict):
        found = next((data[k] for k in ("items", "data", "rows") if k in data), None)
        if found is None:
            raise DatasetError(f"{path}: expected a list, or an object with 'items' or 'data'")
        data = found
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of items")
    return [(f"item {number}", row) for number, row in enumerate(data, 1)]


def read_rows(path: Path) -> list[tuple[str, Any]]:
    """The raw rows of a dataset file with a label for error messages, by file suffix."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        return _read_json(path)
    raise DatasetError(f"{path}: unknown file type {suffix!r}; use one of {', '.join(SUFFIXES)}")


def items_from_rows(
    rows: Iterable[tuple[str, Any]], *, source: str, default_kind: str = AUTO
) -> list[Item]:
    """Turn labelled rows into items; ids must be unique (repeated content gets ``-2``, …)."""
    items: list[Item] = []
    seen: set[str] = set()
    for label, row in rows:
        if not isinstance(row, Mapping):
            raise DatasetError(f"{source}, {label}: expected an object, got {row!r:.60}")
        base = _content_id(row)
        fallback, copy = base, 1
        while fallback in seen:
            copy += 1
            fallback = f"{base}-{copy}"
        try:
            item = make_item(row, default_kind=default_kind, fallback_id=fallback)
        except DatasetError as exc:
            raise DatasetError(f"{source}, {label}: {exc}") from exc
        if item.id in seen:
            raise DatasetError(f"{source}, {label}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise DatasetError(f"{source}: no items")
    return items


def load_items(
    spec: str,
    *,
    default_kind: str = AUTO,
    limit: int | None = None,
    hub_options: Mapping[str, Any] | None = None,
) -> list[Item]:
    """Load a dataset: a file path, a recipe name (``gsm8k``, ``math500``, ``aime2024``,
    ``gpqa``) or ``hf:OWNER/NAME`` (see :mod:`.hub`). ``limit`` keeps the first items.

    Raises:
        DatasetError: the file is missing or malformed, or the name is unknown.
        HubUnavailableError: a hub dataset cannot be loaded (no ``datasets``, offline).
    """
    path = Path(spec).expanduser()
    if path.is_file():
        items = items_from_rows(read_rows(path), source=str(path), default_kind=default_kind)
    else:
        from . import hub

        if not hub.is_hub_spec(spec):
            raise DatasetError(
                f"{spec!r} is neither a file nor a known dataset; use a JSONL/CSV/JSON file, "
                f"one of {', '.join(sorted(hub.RECIPES))}, or hf:OWNER/NAME"
            )
        rows = hub.load_rows(spec, **dict(hub_options or {}))
        items = items_from_rows(rows, source=spec, default_kind=default_kind)
    return items[:limit] if limit is not None else items


def dataset_name(spec: str) -> str:
    """A short name for output folders: the file stem or the recipe/hub name."""
    path = Path(spec)
    if path.suffix.lower() in SUFFIXES:
        return path.stem
    return spec.removeprefix("hf:").replace("/", "_").replace(":", "_") or "dataset"


def save_items(items: Iterable[Item], path: Path) -> None:
    """Write items as JSONL rows that :func:`load_items` reads back unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item_to_row(item), ensure_ascii=False, default=str) + "\n")
