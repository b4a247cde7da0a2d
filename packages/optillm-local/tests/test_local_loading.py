"""Loading: local paths, adapters (switching, concurrency), the model cache, devices, options."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
import torch
from local_engine_helpers import DECODERS, chat, eos_ban, texts

from optillm_core import InvalidRequestError, gather
from optillm_local import LocalConfig, LocalUpstream, devices, generation
from optillm_local.cache import ModelCache
from optillm_local.config import load_config
from optillm_local.loading import adapter_name, load_model
from optillm_local.prompt import prompt_ids, role_prefixed
from optillm_local.request import ModelRef
from optillm_local.testing import TinyModel, build_tokenizer

pytestmark = pytest.mark.anyio


def greedy(model: str, **extra: Any) -> dict[str, Any]:
    return chat(model, max_tokens=8, temperature=0, **eos_ban(extra))


async def test_adapters_change_the_output_and_the_last_is_active(
    upstream: LocalUpstream, tiny: TinyModel
) -> None:
    both = tiny.model_string(0, 1)
    base = texts(await upstream.create(greedy(str(tiny.path))))
    first = texts(await upstream.create(greedy(both, active_adapter=str(tiny.adapters[0]))))
    by_name = texts(await upstream.create(greedy(both, active_adapter="adapter0")))
    default = texts(await upstream.create(greedy(both)))
    second = texts(await upstream.create(greedy(tiny.model_string(1))))
    assert len({base[0], first[0], default[0]}) == 3
    assert by_name == first
    assert default == second, "the last adapter of the model string is active by default"
    # the base model is untouched by adapters attached to it
    assert texts(await upstream.create(greedy(str(tiny.path)))) == base


async def test_concurrent_requests_with_different_adapters_get_their_own(
    shared_cache: ModelCache, tiny: TinyModel
) -> None:
    upstream = LocalUpstream(LocalConfig(concurrency=4), DECODERS, cache=shared_cache)
    both = tiny.model_string(0, 1)
    names = [None, "adapter0", "adapter1"] * 3
    bodies = [
        greedy(both if name else str(tiny.path), **({"active_adapter": name} if name else {}))
        for name in names
    ]
    expected = [texts(await upstream.create(b)) for b in bodies[:3]]
    outs = await gather(*(functools.partial(upstream.create, b) for b in bodies))
    assert [texts(o) for o in outs] == expected * 3


async def test_a_model_loads_once_for_concurrent_first_requests(tiny: TinyModel) -> None:
    cache = ModelCache(LocalConfig())
    upstream = LocalUpstream(LocalConfig(concurrency=3), DECODERS, cache=cache)
    body = chat(str(tiny.path), max_tokens=2)
    await gather(*(functools.partial(upstream.create, body) for _ in range(3)))
    await upstream.create(body)
    assert cache.loads == 1
    assert cache.keys() == [str(tiny.path)]


def test_cache_evicts_least_recently_used(tiny: TinyModel, tmp_path: Path) -> None:
    copies = []
    for i in range(3):
        target = tmp_path / f"copy{i}"
        shutil.copytree(tiny.path, target)
        copies.append(str(target))
    cache = ModelCache(LocalConfig(max_models=2))
    for name in (copies[0], copies[1], copies[0], copies[2]):
        cache.get(ModelRef(name))
    assert cache.keys() == [copies[0], copies[2]]
    bounded = ModelCache(LocalConfig(max_models=4, max_memory_gb=1e-6))
    for name in copies:
        bounded.get(ModelRef(name))
    assert bounded.keys() == [copies[2]], "a memory bound below one model keeps only the newest"


async def test_unknown_models_and_adapters_are_404(
    upstream: LocalUpstream, tiny: TinyModel, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(str(tmp_path / "missing"), max_tokens=1))
    assert (info.value.status, info.value.code) == (404, "model_not_found")
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(f"{tiny.path}+{tmp_path / 'nope'}", max_tokens=1))
    assert (info.value.status, info.value.code) == (404, "adapter_not_found")
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(tiny.model_string(0), max_tokens=1, active_adapter="other"))
    assert info.value.param == "active_adapter"


async def test_allowed_models_restricts_what_clients_load(
    shared_cache: ModelCache, tiny: TinyModel
) -> None:
    config = LocalConfig(allowed_models="some/other-model")
    upstream = LocalUpstream(config, DECODERS, default_model=str(tiny.path), cache=shared_cache)
    assert (await upstream.create(chat(str(tiny.path), max_tokens=1)))["choices"]
    with pytest.raises(InvalidRequestError) as info:
        await upstream.create(chat(tiny.model_string(0), max_tokens=1))
    assert info.value.status == 403


def test_base_models_without_a_template_get_a_role_prefixed_prompt(tmp_path: Path) -> None:
    tokenizer: Any = build_tokenizer(chat_template=None)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ]
    text = role_prefixed(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    )
    assert text == "System: Be brief.\n\nUser: hi\n\nAssistant:"
    ids = prompt_ids(tokenizer, messages)
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    templated: Any = build_tokenizer()
    assert templated.decode(prompt_ids(templated, messages)) == (
        "<s>system: Be brief.\n<s>user: hi\nassistant:"
    )


async def test_a_base_model_without_template_stops_at_the_next_turn(
    upstream: LocalUpstream, tiny: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "base-model"
    shutil.copytree(tiny.path, target)
    (target / "chat_template.jinja").unlink()
    seen: list[list[str]] = []
    real = generation.generate_rows

    def spy(ctx: Any, **options: Any) -> Any:
        seen.append(list(ctx.request.stop))
        return real(ctx, **options)

    monkeypatch.setattr(generation, "generate_rows", spy)
    await upstream.create(chat(str(target), max_tokens=2, stop="xyz"))
    await upstream.create(chat(str(tiny.path), max_tokens=2, stop="xyz"))
    assert seen == [["xyz", "\nUser:", "\nSystem:", "\nAssistant:"], ["xyz"]]


def test_adapter_names_are_sanitized() -> None:
    assert adapter_name("org/my-adapter.v2") == "orgmy_adapter_v2"
    assert adapter_name("/tmp/x/2nd") == "tmpx2nd"
    assert adapter_name("7b-lora") == "adapter_7b_lora"


def test_model_strings_split_on_plus() -> None:
    assert ModelRef.parse("base+a+b") == ModelRef("base", ("a", "b"))
    with pytest.raises(InvalidRequestError):
        ModelRef.parse("base++b")


class FakeCuda:
    """Two GPUs: the second has more free memory."""

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 2

    @staticmethod
    def mem_get_info(index: int) -> tuple[int, int]:
        return [(2 << 30, 16 << 30), (9 << 30, 16 << 30)][index]

    capability = (8, 0)

    @classmethod
    def get_device_capability(cls, device: Any = None) -> tuple[int, int]:
        return cls.capability


def test_device_and_dtype_choice_with_fake_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", FakeCuda.is_available)
    monkeypatch.setattr(torch.cuda, "device_count", FakeCuda.device_count)
    monkeypatch.setattr(torch.cuda, "mem_get_info", FakeCuda.mem_get_info)
    monkeypatch.setattr(torch.cuda, "get_device_capability", FakeCuda.get_device_capability)
    assert devices.choose_device("auto") == "cuda:1"
    assert devices.choose_device("cuda") == "cuda:0"
    assert devices.choose_device("cpu") == "cpu"
    assert devices.choose_dtype("auto", "cuda:1") == torch.bfloat16
    monkeypatch.setattr(FakeCuda, "capability", (7, 5))
    assert devices.choose_dtype("auto", "cuda:1") == torch.float16
    assert devices.choose_dtype("float32", "cuda:1") == torch.float32
    with pytest.raises(devices.DeviceError):
        devices.choose_device("cuda:5")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.choose_device("auto") == "mps"
    assert devices.choose_dtype("auto", "mps") == torch.float16
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.choose_device("auto") == "cpu"
    assert devices.choose_dtype("auto", "cpu") == torch.float32
    with pytest.raises(devices.DeviceError):
        devices.choose_device("cuda")
    with pytest.raises(devices.DeviceError):
        devices.choose_device("mps")


def test_device_and_dtype_flags_reach_the_loader(tiny: TinyModel) -> None:
    config = load_config({"device": "CPU", "dtype": "bf16"})
    loaded = load_model(str(tiny.path), config)
    assert loaded.device == "cpu"
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(Exception, match="device must be"):
        load_config({"device": "tpu"})


async def test_health_answers_while_a_long_generation_runs(
    shared_cache: ModelCache, tiny: TinyModel
) -> None:
    import httpx2

    from optillm_core import create_app
    from optillm_core.testing import make_settings
    from optillm_local import plugin

    settings = make_settings(upstream="local", model=str(tiny.path))
    app = create_app(settings, [plugin], autoload=False)
    app.state.server.engine.upstream.cache = shared_cache
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
        done = anyio.Event()
        latencies: list[float] = []

        async def generate() -> None:
            body = chat(str(tiny.path), max_tokens=1500, **eos_ban())
            response = await client.post("/v1/chat/completions", json=body, timeout=60)
            assert response.status_code == 200
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(generate)
            await anyio.sleep(0.3)
            while not done.is_set() and len(latencies) < 5:
                started = anyio.current_time()
                response = await client.get("/health")
                latencies.append(anyio.current_time() - started)
                assert response.status_code == 200
                await anyio.sleep(0.05)
            assert not done.is_set(), "the generation should still be running"
            tg.cancel_scope.cancel()
    assert len(latencies) == 5
    assert max(latencies) < 0.5
    # the abandoned request stops generating at its next token: the model lock is released
    loaded = shared_cache.get(ModelRef.parse(str(tiny.path)))
    with anyio.fail_after(2):
        while loaded.lock.locked():
            await anyio.sleep(0.01)
