"""Fixtures of the local-engine tests: one tiny model (and adapters) per session, loaded once."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from local_engine_helpers import DECODERS

from optillm_local import LocalConfig, LocalUpstream
from optillm_local.cache import ModelCache
from optillm_local.testing import TinyModel, build_tiny_model


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A saved tiny Llama with two LoRA adapters."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def shared_cache() -> ModelCache:
    """A model cache shared by the tests (each model loads once per session)."""
    return ModelCache(LocalConfig(max_models=4))


@pytest.fixture
def upstream(shared_cache: ModelCache) -> LocalUpstream:
    """A local upstream over the shared cache (its limiter belongs to the test's loop)."""
    return LocalUpstream(LocalConfig(), DECODERS, cache=shared_cache)


@pytest.fixture
def model(tiny: TinyModel) -> str:
    """The tiny model's path as a model string."""
    return str(tiny.path)
