"""The loaded-model cache: least recently used models are evicted beyond a count or a memory
bound. Thread-safe; a model that several requests want at once is loaded once."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from .config import LocalConfig
from .loading import LoadedModel, load_model
from .request import ModelRef

logger = logging.getLogger(__name__)
GIB = 1024**3


class ModelCache:
    """Base models by id/path, each with the adapters requests have attached to it."""

    def __init__(
        self,
        config: LocalConfig,
        loader: Callable[[str, LocalConfig], LoadedModel] = load_model,
    ) -> None:
        self.config = config
        self.loader = loader
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        #: how many times a base model was actually loaded (for tests and metrics)
        self.loads = 0

    def keys(self) -> list[str]:
        """Loaded base models, least recently used first."""
        with self._lock:
            return list(self._models)

    def get(self, ref: ModelRef) -> LoadedModel:
        """The loaded model for ``ref``, loading the base and attaching adapters as needed.

        Blocking: call from a worker thread.
        """
        loaded = self._base(ref.base)
        for adapter in ref.adapters:
            loaded.ensure_adapter(adapter, self.config.trust_remote_code)
        return loaded

    def _base(self, base: str) -> LoadedModel:
        with self._lock:
            if base in self._models:
                self._models.move_to_end(base)
                return self._models[base]
            key_lock = self._loading.setdefault(base, threading.Lock())
        with key_lock:
            with self._lock:
                if base in self._models:
                    self._models.move_to_end(base)
                    return self._models[base]
            loaded = self.loader(base, self.config)
            with self._lock:
                self.loads += 1
                self._models[base] = loaded
                self._loading.pop(base, None)
                evicted = self._evict(keep=base)
        if evicted:
            _release_memory(evicted)
        return loaded

    def _evict(self, keep: str) -> list[LoadedModel]:
        limit_bytes = self.config.max_memory_gb * GIB
        evicted: list[LoadedModel] = []

        def over() -> bool:
            if len(self._models) > self.config.max_models:
                return True
            total = sum(m.nbytes for m in self._models.values())
            return bool(limit_bytes) and total > limit_bytes and len(self._models) > 1

        while over():
            key = next(k for k in self._models if k != keep)
            evicted.append(self._models.pop(key))
            logger.info("evicted %s from the model cache", key)
        return evicted

    def clear(self) -> None:
        """Drop every model (the server is shutting down)."""
        with self._lock:
            evicted = list(self._models.values())
            self._models.clear()
        if evicted:
            _release_memory(evicted)


def _release_memory(evicted: list[LoadedModel]) -> None:
    """Give freed accelerator memory back (requests still running keep their reference)."""
    if any(m.device.startswith("cuda") for m in evicted):
        import torch

        evicted.clear()
        torch.cuda.empty_cache()
