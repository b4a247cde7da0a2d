"""Dataset files (JSONL, CSV, JSON), type inference, and Hugging Face datasets by name —
including the clear errors when ``datasets`` is missing or the hub is unreachable."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from optillm_eval import DatasetError, HubUnavailableError, infer_kind, load_items
from optillm_eval.items import CodeCase
from optillm_eval.loaders import save_items
from optillm_eval.prompts import question_text

ROWS = [
    {"question": "What is 2+2?", "answer": "4"},
    {"question": "Pick one", "answer": "B", "choices": ["x", "y", "z"]},
    {"question": "Capital of France?", "answer": "Paris", "id": "geo-1"},
    {"question": "Say hi", "answer": "hello", "type": "contains"},
    {
        "question": "Add two numbers from stdin.",
        "type": "code",
        "tests": [{"input": "1 2", "output": "3"}],
    },
]
KINDS = ["math", "mcq", "exact", "contains", "code"]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def test_jsonl_rows_become_items(tmp_path: Path) -> None:
    items = load_items(str(write_jsonl(tmp_path / "d.jsonl", ROWS)))
    assert [i.kind for i in items] == KINDS
    assert items[1].choices == ("x", "y", "z")
    assert items[2].id == "geo-1"
    assert items[4].tests == (CodeCase("1 2", "3"),)
    assert len({i.id for i in items}) == len(items)


def test_json_list_and_object_forms(tmp_path: Path) -> None:
    listed = tmp_path / "a.json"
    listed.write_text(json.dumps(ROWS))
    wrapped = tmp_path / "b.json"
    wrapped.write_text(json.dumps({"items": ROWS}))
    assert [i.kind for i in load_items(str(listed))] == KINDS
    assert load_items(str(listed)) == load_items(str(wrapped))


def test_csv_with_json_cells(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "question,answer,type,choices,tests\n"
        "What is 3*3?,9,,,\n"
        'Pick,C,,"[""a"",""b"",""c""]",\n'
        'Echo,,code,,"[{""input"": ""x"", ""output"": ""x""}]"\n'
        'Fn,,code,,"assert f() == 1"\n'
    )
    items = load_items(str(path))
    assert [i.kind for i in items] == ["math", "mcq", "code", "code"]
    assert items[1].choices == ("a", "b", "c")
    assert items[2].tests == (CodeCase("x", "x"),)
    assert items[3].tests == "assert f() == 1"


def test_ids_are_stable_when_the_file_is_reordered_and_saved(tmp_path: Path) -> None:
    first = load_items(str(write_jsonl(tmp_path / "a.jsonl", ROWS)))
    second = load_items(str(write_jsonl(tmp_path / "b.jsonl", ROWS[::-1])))
    assert {i.id: i.fingerprint for i in first} == {i.id: i.fingerprint for i in second}
    save_items(first, tmp_path / "saved.jsonl")
    assert load_items(str(tmp_path / "saved.jsonl")) == first


def test_repeated_questions_get_distinct_ids(tmp_path: Path) -> None:
    items = load_items(str(write_jsonl(tmp_path / "d.jsonl", [ROWS[0], ROWS[0]])))
    assert items[0].id != items[1].id


@pytest.mark.parametrize(
    ("answer", "extra", "kind"),
    [
        ("42", {}, "math"),
        ("-0.25", {}, "math"),
        ("3/4", {}, "math"),
        ("1,000", {}, "math"),
        ("\\frac{\\pi}{2}", {}, "math"),
        ("x^2+1", {}, "math"),
        ("(1, 2)", {}, "math"),
        ("C", {}, "mcq"),
        ("(d)", {}, "mcq"),
        ("yes", {"choices": ["yes", "no"]}, "mcq"),
        ("Paris", {}, "exact"),
        ("", {"has_tests": True}, "code"),
    ],
)
def test_infer_kind(answer: str, extra: dict[str, Any], kind: str) -> None:
    assert infer_kind(answer, **extra) == kind


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"answer": "1"}], "line 1: missing 'question'"),
        ([{"question": "q"}], "missing 'answer'"),
        ([{"question": "q", "answer": "1", "type": "essay"}], "unknown type 'essay'"),
        ([{"question": "q", "type": "code"}], "needs 'tests'"),
        ([{"question": "q", "answer": "1", "id": "a"}] * 2, "duplicate id 'a'"),
        ([{"question": "q", "answer": "A", "choices": ["only"]}], "choices"),
        ([], "no items"),
    ],
)
def test_malformed_rows_name_the_problem(
    tmp_path: Path, rows: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_items(str(write_jsonl(tmp_path / "d.jsonl", rows)))


def test_unknown_name_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="neither a file nor a known dataset"):
        load_items(str(tmp_path / "missing.jsonl"))
    odd = tmp_path / "d.txt"
    odd.write_text("x")
    with pytest.raises(DatasetError, match="unknown file type"):
        load_items(str(odd))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "1"}\n{oops\n')
    with pytest.raises(DatasetError, match="line 2 is not JSON"):
        load_items(str(bad))


def test_default_type_and_limit(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "d.jsonl", [{"question": f"q{i}", "answer": "7"} for i in range(5)]
    )
    items = load_items(str(path), default_kind="exact", limit=2)
    assert [i.kind for i in items] == ["exact", "exact"]


def test_prompts_carry_options_and_format_line() -> None:
    items = {i.kind: i for i in load_items_from(ROWS)}
    assert "A. x\nB. y\nC. z" in question_text(items["mcq"])
    assert "\\boxed{}" in question_text(items["math"])
    assert "standard input" in question_text(items["code"])
    assert question_text(items["math"], instructions=False) == "What is 2+2?"


def load_items_from(rows: list[dict[str, Any]]) -> list[Any]:
    from optillm_eval.loaders import items_from_rows

    return items_from_rows([(str(i), r) for i, r in enumerate(rows)], source="test")


# --- Hugging Face datasets --------------------------------------------------------------------


def test_missing_datasets_package_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(HubUnavailableError, match=r"pip install 'optillm-eval\[hub\]'"):
        load_items("gsm8k")


def fake_datasets(monkeypatch: pytest.MonkeyPatch, tables: dict[str, Any]) -> list[Any]:
    """Install a stand-in ``datasets`` module; ``tables`` maps a path to rows or an error."""
    calls: list[Any] = []

    def load_dataset(path: str, name: str | None = None, *, split: str) -> Any:
        calls.append((path, name, split))
        found = tables[path]
        if isinstance(found, Exception):
            raise found
        return found

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


def test_offline_hub_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_datasets(
        monkeypatch,
        {"HuggingFaceH4/MATH-500": ConnectionError("Couldn't reach 'HuggingFaceH4/MATH-500'")},
    )
    with pytest.raises(HubUnavailableError) as caught:
        load_items("math500")
    message = str(caught.value)
    assert "Could not load 'HuggingFaceH4/MATH-500'" in message
    assert "unreachable" in message and "--save-dataset" in message


def test_recipes_map_their_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_datasets(
        monkeypatch,
        {
            "openai/gsm8k": [{"question": "How many?", "answer": "2 + 2 = 4\n#### 1,204"}],
            "HuggingFaceH4/MATH-500": [
                {"problem": "P", "answer": "\\frac{1}{2}", "unique_id": "u/1", "level": 3}
            ],
            "AI-MO/aimo-validation-aime": [
                {"problem": "A23", "answer": 5, "url": "https://x/2023_AIME_I"},
                {"problem": "A24", "answer": 204, "url": "https://x/2024_AIME_I"},
            ],
            "Idavidrein/gpqa": [
                {
                    "Question": "Which?",
                    "Correct Answer": "right",
                    "Incorrect Answer 1": "w1",
                    "Incorrect Answer 2": "w2",
                    "Incorrect Answer 3": "w3",
                }
            ],
        },
    )
    (gsm,) = load_items("gsm8k")
    assert (gsm.answer, gsm.kind) == ("1204", "math")
    (math500,) = load_items("MATH-500")
    assert (math500.id, math500.answer, math500.metadata["level"]) == ("u/1", "\\frac{1}{2}", 3)
    (aime,) = load_items("aime2024")
    assert (aime.question, aime.answer) == ("A24", "204")
    (gpqa,) = load_items("gpqa-diamond")
    assert gpqa.kind == "mcq"
    assert sorted(gpqa.choices) == ["right", "w1", "w2", "w3"]
    assert gpqa.choices["ABCD".index(gpqa.answer)] == "right"
    assert load_items("gpqa") == [gpqa]  # the shuffle is seeded by the question
    assert ("openai/gsm8k", "main", "test") in calls
    assert ("Idavidrein/gpqa", "gpqa_diamond", "train") in calls


def test_any_hub_dataset_with_column_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_datasets(monkeypatch, {"me/quiz": [{"prompt": "2*3?", "target": 6}]})
    hub = {"split": "validation", "question_column": "prompt", "answer_column": "target"}
    (quiz,) = load_items("hf:me/quiz:small", hub_options=hub)
    assert (quiz.question, quiz.answer, quiz.kind) == ("2*3?", "6", "math")
    assert calls == [("me/quiz", "small", "validation")]
    with pytest.raises(DatasetError, match="no column 'question'"):
        load_items("hf:me/quiz")
