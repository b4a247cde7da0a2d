"""Loading a causal LM, its tokenizer and LoRA adapters (transformers + peft, imported lazily).

A model loads once and is shared by all requests; its ``lock`` is held around adapter selection
and generation, so concurrent requests that use different adapters never see each other's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optillm_core import InvalidRequestError, OptillmError

from .config import LocalConfig
from .devices import choose_device, choose_dtype
from .tokens import TokenText

logger = logging.getLogger(__name__)


class ModelLoadError(OptillmError):
    """A model or adapter exists but could not be loaded."""

    code = "model_load_failed"


def adapter_name(adapter_id: str) -> str:
    """A peft adapter name for an id or path: alphanumerics and ``_`` only."""
    name = re.sub(r"[^0-9A-Za-z_]", "", adapter_id.replace(".", "_").replace("-", "_"))
    name = name.strip("_") or "adapter"
    if name[0].isdigit():
        name = f"adapter_{name}"
    return name


def _weights_bytes(module: Any) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return int(sum(t.numel() * t.element_size() for t in tensors))


@dataclass
class LoadedModel:
    """A loaded base model with its tokenizer and the adapters attached to it."""

    key: str
    model: Any
    tokenizer: Any
    device: str
    dtype: Any
    eos_ids: frozenset[int]
    pad_id: int
    nbytes: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    peft: Any = None
    #: adapter id (as written in model strings) → peft adapter name
    adapters: dict[str, str] = field(default_factory=dict)
    token_text: TokenText = field(init=False)

    def __post_init__(self) -> None:
        self.token_text = TokenText(self.tokenizer)

    def ensure_adapter(self, adapter_id: str, trust_remote_code: bool = False) -> str:
        """Attach ``adapter_id`` (hub id or path) once; returns its adapter name."""
        with self.lock:
            if adapter_id in self.adapters:
                return self.adapters[adapter_id]
            name = adapter_name(adapter_id)
            if name in self.adapters.values():
                name = f"{name}_{hashlib.sha1(adapter_id.encode()).hexdigest()[:8]}"
            try:
                from peft import PeftModel

                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                if self.peft is None:
                    self.peft = PeftModel.from_pretrained(
                        self.model, adapter_id, adapter_name=name, is_trainable=False
                    )
                else:
                    self.peft.load_adapter(adapter_id, adapter_name=name, is_trainable=False)
                self.peft.eval()
            except (OSError, ValueError) as exc:
                raise InvalidRequestError(
                    f"Adapter {adapter_id!r} could not be loaded: {exc}",
                    param="model",
                    code="adapter_not_found",
                    status=404,
                ) from exc
            self.adapters[adapter_id] = name
            self.nbytes = _weights_bytes(self.model)
            logger.info("attached adapter %s to %s", adapter_id, self.key)
            return name

    def resolve_adapter(self, adapters: tuple[str, ...], active: str | None) -> str | None:
        """The peft name of the adapter a request uses: ``active`` (one of the request's
        adapters, by id, last path segment or adapter name), else the last listed, else none
        (the base model)."""
        if not adapters:
            if active is not None:
                raise InvalidRequestError(
                    f"active_adapter {active!r} given, but the model string lists no adapters.",
                    param="active_adapter",
                )
            return None
        if active is None:
            return self.adapters[adapters[-1]]
        for adapter_id in adapters:
            short = adapter_id.rstrip("/").rsplit("/", 1)[-1]
            if active in (adapter_id, self.adapters[adapter_id], short):
                return self.adapters[adapter_id]
        listed = ", ".join(adapters)
        raise InvalidRequestError(
            f"active_adapter {active!r} is not one of the model string's adapters ({listed}).",
            param="active_adapter",
        )

    @contextlib.contextmanager
    def activated(self, adapter: str | None) -> Iterator[Any]:
        """Select ``adapter`` (``None``: base weights) and yield the module to run.

        The caller holds :attr:`lock` for the whole block.
        """
        if self.peft is None:
            yield self.model
        elif adapter is None:
            with self.peft.disable_adapter():
                yield self.model
        else:
            self.peft.set_adapter(adapter)
            yield self.model


def _source(base: str) -> tuple[str, dict[str, Any]]:
    """``(path or id, extra from_pretrained kwargs)``; a ``.gguf`` file loads through
    transformers' GGUF support."""
    if base.lower().endswith(".gguf"):
        path = Path(base).expanduser()
        if not path.is_file():
            raise InvalidRequestError(
                f"GGUF file {base!r} not found.", param="model", code="model_not_found", status=404
            )
        return str(path.parent), {"gguf_file": path.name}
    path = Path(base).expanduser()
    return (str(path) if path.exists() else base), {}


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def load_model(base: str, config: LocalConfig) -> LoadedModel:
    """Load ``base`` (hub id, local directory or ``.gguf`` file) with its tokenizer."""
    source, extra = _source(base)
    device = choose_device(config.device)
    dtype = choose_dtype(config.dtype, device)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(
            source, trust_remote_code=config.trust_remote_code, **extra
        )
        options: dict[str, Any] = {
            "dtype": dtype,
            "device_map": device,
            "trust_remote_code": config.trust_remote_code,
            **extra,
        }
        if config.attn_implementation:
            options["attn_implementation"] = config.attn_implementation
        model = AutoModelForCausalLM.from_pretrained(source, **options)
    except OSError as exc:
        raise InvalidRequestError(
            f"Model {base!r} could not be loaded: {exc}",
            param="model",
            code="model_not_found",
            status=404,
        ) from exc
    except ImportError as exc:
        hint = " (GGUF needs: pip install 'optillm-local[gguf]')" if extra else ""
        raise ModelLoadError(f"Model {base!r} needs a missing package: {exc}{hint}") from exc
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"Model {base!r} could not be loaded: {exc}") from exc
    model.eval()  # type: ignore[no-untyped-call]
    tokenizer.padding_side = "left"
    eos = _eos_ids(model, tokenizer)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif eos:
            tokenizer.pad_token_id = min(eos)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    logger.info("loaded %s on %s (%s)", base, device, str(dtype).removeprefix("torch."))
    return LoadedModel(
        key=base,
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        eos_ids=eos,
        pad_id=int(pad),
        nbytes=_weights_bytes(model),
    )
