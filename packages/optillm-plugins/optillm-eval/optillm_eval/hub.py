"""Hugging Face datasets by name: recipes with their column mappings, and ``hf:OWNER/NAME``.

Needs the optional ``datasets`` package (``pip install 'optillm-eval[hub]'``) and a reachable
hub (or a warm cache with ``HF_HUB_OFFLINE=1``). Either missing gives a
:class:`HubUnavailableError` that says what to do; nothing here is imported by the rest of the
package unless a hub dataset is asked for.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DatasetError, HubUnavailableError
from .items import LETTERS

Row = dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    """Where a benchmark lives on the hub and how its columns map to items."""

    path: str
    config: str | None
    split: str
    convert: Callable[[Mapping[str, Any]], Row | None]
    about: str


def _aime_2024(row: Mapping[str, Any]) -> Row | None:
    if "2024" not in str(row.get("url", "")):
        return None
    return {"question": row["problem"], "answer": str(row["answer"]), "type": "math"}


def _math_500(row: Mapping[str, Any]) -> Row | None:
    return {
        "id": row.get("unique_id"),
        "question": row["problem"],
        "answer": row["answer"],
        "type": "math",
        "subject": row.get("subject"),
        "level": row.get("level"),
    }


def _gsm8k(row: Mapping[str, Any]) -> Row | None:
    final = str(row["answer"]).rsplit("####", 1)[-1].strip().replace(",", "")
    return {"question": row["question"], "answer": final, "type": "math"}


def _gpqa(row: Mapping[str, Any]) -> Row | None:
    """Shuffle the four options with a seed taken from the question, so every run (and every
    machine) shows the same order and the correct letter is spread over A-D."""
    question = str(row["Question"]).strip()
    correct = str(row["Correct Answer"]).strip()
    options = [correct] + [str(row[f"Incorrect Answer {i}"]).strip() for i in (1, 2, 3)]
    seed = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big")
    random.Random(seed).shuffle(options)
    return {
        "question": question,
        "choices": options,
        "answer": LETTERS[options.index(correct)],
        "type": "mcq",
        "domain": row.get("High-level domain"),
    }


RECIPES: dict[str, Recipe] = {
    "aime2024": Recipe(
        "AI-MO/aimo-validation-aime", None, "train", _aime_2024, "AIME 2024, 30 integer answers"
    ),
    "math500": Recipe("HuggingFaceH4/MATH-500", None, "test", _math_500, "MATH-500, LaTeX answers"),
    "gsm8k": Recipe("openai/gsm8k", "main", "test", _gsm8k, "GSM8K test, 1319 numeric answers"),
    "gpqa": Recipe(
        "Idavidrein/gpqa", "gpqa_diamond", "train", _gpqa, "GPQA Diamond, 198 A-D (gated)"
    ),
}
ALIASES = {"aime-2024": "aime2024", "math-500": "math500", "gpqa-diamond": "gpqa"}


def is_hub_spec(spec: str) -> bool:
    """Whether ``spec`` names a recipe or an ``hf:`` dataset."""
    return spec.startswith("hf:") or spec.lower() in RECIPES or spec.lower() in ALIASES


def _import_datasets() -> Any:
    try:
        import datasets  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise HubUnavailableError(
            "Loading datasets from the Hugging Face hub needs the optional 'datasets' package: "
            "pip install 'optillm-eval[hub]'. Or export the data to a JSONL file with "
            "'question' and 'answer' fields and pass the file instead."
        ) from exc
    return datasets


def _fetch(datasets: Any, path: str, config: str | None, split: str) -> Any:
    try:
        return datasets.load_dataset(path, config, split=split)
    except Exception as exc:  # the hub raises many types: connection, auth, offline, 404
        raise HubUnavailableError(
            f"Could not load {path!r} (split {split!r}) from the Hugging Face hub: "
            f"{type(exc).__name__}: {exc}. The hub may be unreachable (offline, proxy, "
            "HF_HUB_OFFLINE=1 without a cached copy) or the dataset gated (log in or set "
            "HF_TOKEN). Load it once where the hub is reachable with --save-dataset FILE.jsonl "
            "and evaluate that file here."
        ) from exc


def load_rows(
    spec: str,
    *,
    split: str | None = None,
    question_column: str | None = None,
    answer_column: str | None = None,
) -> Iterator[tuple[str, Row]]:
    """Labelled item rows of a recipe or of ``hf:OWNER/NAME[:CONFIG]``.

    For ``hf:`` datasets the columns default to ``question`` and ``answer`` and the split to
    ``test`` (rows take the run's default type). Recipes use their own mapping and types.

    Raises:
        HubUnavailableError: ``datasets`` is not installed or the hub cannot serve the data.
        DatasetError: a mapped column is missing.
    """
    datasets = _import_datasets()
    name = ALIASES.get(spec.lower(), spec.lower())
    if name in RECIPES:
        recipe = RECIPES[name]
        convert = recipe.convert
        path, config, split = recipe.path, recipe.config, split or recipe.split
    else:
        path, _, config_name = spec.removeprefix("hf:").partition(":")
        config, split = config_name or None, split or "test"
        convert = _column_mapping(question_column or "question", answer_column or "answer")
    table = _fetch(datasets, path, config, split)
    for number, row in enumerate(table, 1):
        try:
            mapped = convert(row)
        except KeyError as exc:
            raise DatasetError(f"{path}: row {number} has no column {exc}") from exc
        if mapped is not None:
            yield f"row {number}", {k: v for k, v in mapped.items() if v is not None}


def _column_mapping(question: str, answer: str) -> Callable[[Mapping[str, Any]], Row | None]:
    def convert(row: Mapping[str, Any]) -> Row | None:
        return {"question": row[question], "answer": row[answer]}

    return convert
