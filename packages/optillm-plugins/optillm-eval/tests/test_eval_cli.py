"""``optillm eval`` end to end through the real console entry point: approaches in-process on
top of any OpenAI-compatible server, or on a running optillm proxy; and the error paths."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import pytest

from optillm_core.cli import main
from optillm_core.testing import FakeUpstream, make_app, serve_app_in_thread
from optillm_eval.loaders import save_items
from optillm_eval.synthetic import NoisyOracle, arithmetic_items
from optillm_self_consistency import plugin as self_consistency

ITEMS = arithmetic_items(20, seed=7)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "arith.jsonl"
    save_items(ITEMS, path)
    return path


def results(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_in_process_on_a_plain_upstream_with_resume_and_costs(
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPTILLM_MAJORITY_VOTING_K", "3")  # approach options reach the engine
    fake = FakeUpstream(NoisyOracle(0.6, seed=5))
    out = tmp_path / "out"
    common = ["--approaches", "none,majority_voting", "--model", "fake-model", "-o", str(out)]
    with fake.serve_in_thread() as url:
        first = main(["eval", str(dataset), "--base-url", url, *common, "--limit", "5"])
        assert first == 0
        assert fake.call_count == 10
        code = main(
            [
                "eval",
                str(dataset),
                "--base-url",
                url,
                *common,
                "-j",
                "3",
                "--price-prompt",
                "0.15",
                "--price-completion",
                "0.6",
                "--temperature",
                "0.3",
            ]
        )
    assert code == 0
    assert fake.call_count == 40  # 30 new outcomes; the 5 stored items were not asked again
    assert all("optillm_approach" not in body for body in fake.bodies)  # approaches ran here
    voting = [body for body in fake.bodies if body.get("n") == 3]
    assert len(voting) == 20 and all(body["temperature"] == 0.3 for body in voting[-15:])

    captured = capsys.readouterr()
    assert "| `majority_voting` |" in captured.out and "cost $" in captured.out
    assert "eval 40/40" in captured.err  # the progress line
    assert "30 new and 10 stored outcomes" in captured.err
    assert len(results(out)) == 40
    rows = {r["approach"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["none"]["items"] == rows["majority_voting"]["items"] == "20"
    assert float(rows["majority_voting"]["mean_upstream_calls"]) == 1.0
    assert float(rows["none"]["cost_usd"]) > 0
    summary = (out / "summary.md").read_text()
    assert "20 items from" in summary and "in-process on http://127.0.0.1" in summary
    assert (out / "accuracy_vs_tokens.png").stat().st_size > 5_000


def test_against_a_running_proxy(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeUpstream(NoisyOracle(1.0))
    app = make_app(fake, [self_consistency])
    out = tmp_path / "out"
    extra = json.dumps({"optillm": {"self_consistency": {"samples": 3}}})
    with serve_app_in_thread(app) as url:
        code = main(
            [
                "eval",
                str(dataset),
                "--base-url",
                url,
                "--model",
                "fake-model",
                "-o",
                str(out),
                "--approaches",
                "none,self_consistency",
                "--extra-body",
                extra,
                "--no-chart",
                "--no-progress",
            ]
        )
    assert code == 0
    assert fake.call_count == 40
    assert sorted(body.get("n", 1) for body in fake.bodies) == [1] * 20 + [3] * 20
    stored = results(out)
    assert all(r["correct"] and r["upstream_calls"] == 1 for r in stored)
    assert "optillm proxy at" in (out / "summary.md").read_text()
    assert not (out / "accuracy_vs_tokens.png").exists()
    assert "eval " not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("via_proxy", "approaches", "message"),
    [
        (True, "none,nope", "Not installed on the proxy: nope"),
        (False, "none,nope", "Cannot run nope: "),
    ],
)
def test_unknown_approaches_stop_before_any_request(
    dataset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    via_proxy: bool,
    approaches: str,
    message: str,
) -> None:
    fake = FakeUpstream("unused")
    server = serve_app_in_thread(make_app(fake)) if via_proxy else fake.serve_in_thread()
    with server as url:
        code = main(
            [
                "eval",
                str(dataset),
                "--base-url",
                url,
                "--approaches",
                approaches,
                "-o",
                str(tmp_path / "o"),
            ]
        )
    assert code == 2
    assert message in capsys.readouterr().err
    assert fake.call_count == 0


def test_forcing_proxy_mode_on_a_plain_server_is_refused(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeUpstream("unused")
    with fake.serve_in_thread() as url:
        code = main(
            [
                "eval",
                str(dataset),
                "--base-url",
                url,
                "--via",
                "proxy",
                "--approaches",
                "moa",
                "-o",
                str(tmp_path / "o"),
            ]
        )
    assert code == 2
    assert "is not an optillm proxy" in capsys.readouterr().err


def test_hub_dataset_without_the_datasets_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    code = main(["eval", "aime2024", "--base-url", "http://127.0.0.1:9/v1", "-o", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "optillm: error:" in err and "pip install 'optillm-eval[hub]'" in err


def test_missing_file_and_bad_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(tmp_path / "nope.jsonl")]) == 2
    assert "neither a file nor a known dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "x.jsonl", "--concurrency", "0"])
    assert "must be positive" in capsys.readouterr().err


def test_hub_recipe_saved_for_offline_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"question": f"What is {i} + 1?", "answer": f"work\n#### {i + 1}"} for i in range(4)]
    module = types.ModuleType("datasets")
    module.load_dataset = lambda path, name=None, *, split: rows  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", module)
    fake = FakeUpstream("The answer is \\boxed{1}.")
    saved = tmp_path / "gsm8k.jsonl"
    with fake.serve_in_thread() as url:
        code = main(
            [
                "eval",
                "gsm8k",
                "--base-url",
                url,
                "--limit",
                "1",
                "--save-dataset",
                str(saved),
                "-o",
                str(tmp_path / "out"),
                "--no-chart",
            ]
        )
    assert code == 0
    assert fake.call_count == 1
    assert [json.loads(line)["answer"] for line in saved.read_text().splitlines()] == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert "| `none` | 100.0 % |" in capsys.readouterr().out
