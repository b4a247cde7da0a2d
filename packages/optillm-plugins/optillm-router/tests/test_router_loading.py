"""Loading the classifier: local directories, hub ids offline, missing models (503 or the
operator's fallback), the failure memo, one load for concurrent first requests, the trace."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import anyio
import openai
import pytest
from router_testkit import build_classifier, config_only, plugin_for, probability, router_app

from optillm_core import ChatRequest, build_engine
from optillm_core.testing import FakeUpstream, make_settings, openai_client, upstream_for
from optillm_re2 import plugin as re2_plugin
from optillm_router.classifier import ClassifierSource, LoadedClassifier, load_classifier
from optillm_router.plugin import Router

USER = [{"role": "user", "content": "what is the capital of france"}]


async def ask(app, **options):  # type: ignore[no-untyped-def]
    async with openai_client(app) as client:
        return await client.chat.completions.with_raw_response.create(
            model="router-fake-model", messages=USER, **options
        )


class CountingLoader:
    """The real loader, counting calls and remembering the threads they ran in."""

    def __init__(self) -> None:
        self.calls = 0
        self.threads: list[threading.Thread] = []

    def __call__(self, source: ClassifierSource) -> LoadedClassifier:
        self.calls += 1
        self.threads.append(threading.current_thread())
        time.sleep(0.05)  # a slow load, so concurrent first requests overlap it
        return load_classifier(source)


@pytest.mark.anyio
async def test_missing_local_model_is_a_503_naming_it_and_nothing_goes_upstream(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream("x")
    missing = tmp_path / "no-such-model"
    app = router_app(fake, [re2_plugin], model_path=missing)
    with pytest.raises(openai.InternalServerError) as raised:
        await ask(app)
    assert raised.value.status_code == 503
    assert str(missing) in raised.value.message
    assert "does not exist" in raised.value.message
    assert raised.value.response.headers["retry-after"] == "60"
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_hub_model_offline_and_not_cached_fails_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    fake = FakeUpstream("x")
    app = router_app(fake, cache_dir=tmp_path / "empty-cache")  # default model: the hub id
    started = time.perf_counter()
    with pytest.raises(openai.InternalServerError) as raised:
        await ask(app)
    assert time.perf_counter() - started < 10
    assert raised.value.status_code == 503
    assert "codelion/optillm-modernbert-large" in raised.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_operator_fallback_runs_when_the_model_is_missing_and_says_so(
    tmp_path: Path,
) -> None:
    fake = FakeUpstream("Paris")
    app = router_app(fake, [re2_plugin], model_path=tmp_path / "gone", fallback="re2")
    raw = await ask(app)
    assert raw.http_response.headers["x-optillm-routed"] == "re2;fallback"
    assert raw.parse().choices[0].message.content == "Paris"
    assert fake.call_count == 1
    assert "Read the question again" in str(fake.bodies[0]["messages"])


@pytest.mark.anyio
async def test_fallback_that_is_not_installed_is_a_503(tmp_path: Path) -> None:
    fake = FakeUpstream("x")
    app = router_app(fake, model_path=tmp_path / "gone", fallback="bon")
    with pytest.raises(openai.InternalServerError) as raised:
        await ask(app)
    assert raised.value.status_code == 503
    assert "'bon' is not installed" in raised.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_a_failed_load_is_remembered_then_retried(tmp_path: Path) -> None:
    loader = CountingLoader()
    missing = tmp_path / "later"
    app = router_app(FakeUpstream("x"), router=Router(loader), model_path=missing)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            await ask(app)
    assert loader.calls == 1
    retrying = Router(loader)
    app = router_app(FakeUpstream("x"), router=retrying, model_path=missing, load_retry_seconds=0)
    with pytest.raises(openai.InternalServerError):
        await ask(app)
    assert loader.calls == 2
    built = build_classifier({"none": 3.0})
    missing.symlink_to(built, target_is_directory=True)  # the operator installs the model
    raw = await ask(app)
    assert raw.http_response.headers["x-optillm-routed"].startswith("none;")
    assert loader.calls == 3


@pytest.mark.anyio
async def test_concurrent_first_requests_load_once_in_a_worker_thread() -> None:
    loader = CountingLoader()
    fake = FakeUpstream("x")
    app = router_app(
        fake, router=Router(loader), model_path=build_classifier({"none": 4.0, "re2": 1.0})
    )
    results: list[str] = []

    async def one() -> None:
        raw = await ask(app)
        results.append(raw.http_response.headers["x-optillm-routed"])

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(one)
    assert loader.calls == 1
    assert loader.threads[0] is not threading.main_thread()
    assert results == ["none;p=" + probability({"none": 4.0, "re2": 1.0}, "none")] * 4


@pytest.mark.anyio
async def test_encoder_config_comes_from_base_model_when_the_checkpoint_has_none() -> None:
    fake = FakeUpstream("x")
    model = build_classifier({"re2": 5.0}, with_config=False)
    app = router_app(fake, [re2_plugin], model_path=model, base_model=config_only())
    raw = await ask(app)
    assert raw.http_response.headers["x-optillm-routed"].startswith("re2;")


@pytest.mark.anyio
async def test_a_file_that_is_not_a_router_checkpoint_is_refused(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    model = build_classifier({"none": 1.0})
    fake_dir = tmp_path / "other-model"
    fake_dir.mkdir()
    for item in model.iterdir():
        if item.name != "model.safetensors":
            (fake_dir / item.name).write_bytes(item.read_bytes())
    save_file({"classifier.weight": torch.zeros(2, 96)}, str(fake_dir / "model.safetensors"))
    app = router_app(FakeUpstream("x"), model_path=fake_dir)
    with pytest.raises(openai.InternalServerError) as raised:
        await ask(app)
    assert "not a router checkpoint" in raised.value.message


@pytest.mark.anyio
async def test_trace_records_the_load_and_the_route_with_skipped_labels() -> None:
    biases = {"mcts": 5.0, "re2": 4.0}
    options = {"router": {"model_path": str(build_classifier(biases))}}
    engine, _ = build_engine(
        make_settings(plugin_options=options),
        [plugin_for(Router()), re2_plugin],
        autoload=False,
        upstream=upstream_for(FakeUpstream("x")),
    )
    request = ChatRequest.model_validate({"model": "router-fake-model", "messages": USER})
    outcome = await engine.run(request)
    await outcome.result.collect()
    entries = outcome.state.trace.entries
    assert [(e.stage, e.kind, e.status) for e in entries] == [
        ("router", "load", "ok"),
        ("router", "route", "ok"),
        ("re2", "create", "ok"),
    ]
    p_mcts, p_re2 = probability(biases, "mcts"), probability(biases, "re2")
    assert entries[1].detail == f"re2 p={p_re2} (skipped mcts p={p_mcts}: not installed)"
    assert outcome.state.response_headers["x-optillm-routed"] == f"re2;p={p_re2}"
    again = await engine.run(request)
    await again.result.collect()
    assert [e.kind for e in again.state.trace.entries] == ["route", "create"]  # loaded once


class Broken(LoadedClassifier):
    def predict(self, text: str, effort: float, max_length: int) -> list[float]:
        raise RuntimeError("CUDA out of memory")


@pytest.mark.anyio
async def test_a_classifier_that_fails_on_a_request_is_a_clear_500_not_a_plain_call() -> None:
    fake = FakeUpstream("x")
    router = Router(lambda source: Broken(None, None, "cpu"))
    app = router_app(fake, router=router, fallback="none")  # fallback is for loading only
    with pytest.raises(openai.InternalServerError) as raised:
        await ask(app)
    assert raised.value.status_code == 500
    assert "classifier failed" in raised.value.message
    assert "CUDA out of memory" in raised.value.message
    assert fake.call_count == 0
