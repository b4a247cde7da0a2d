"""Options of the ``local`` upstream: flags ``--local-<field>``, env ``OPTILLM_LOCAL_<FIELD>``,
TOML section ``[local]``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from optillm_core import param
from optillm_core.upstream.select import UpstreamConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16")


class LocalConfig(BaseModel):
    """Server-side options of the local inference engine."""

    model_config = ConfigDict(extra="forbid")

    device: str = param(
        "auto",
        "Device: auto (CUDA GPU with most free memory, then MPS, then CPU), cpu, cuda, cuda:N, mps.",
    )
    dtype: str = param(
        "auto",
        "Weights dtype: auto (bf16 on CUDA >= 8.0, fp16 on CUDA 7.x and MPS, else fp32), "
        "float32, float16, bfloat16.",
    )
    max_models: int = param(2, "Models kept loaded at once (least recently used evicted).", ge=1)
    max_memory_gb: float = param(
        0.0, "Evict least recently used models above this many GiB of weights (0: no bound).", ge=0
    )
    concurrency: int = param(
        2, "Model jobs (loading, generation) running at once in worker threads.", ge=1
    )
    max_tokens: int = param(
        4096,
        "Output tokens of a request that sets no max_tokens.",
        env=["OPTILLM_MAX_TOKENS"],
        ge=1,
    )
    trust_remote_code: bool = param(
        False, "Let transformers run model code shipped with a model repository (operator only)."
    )
    attn_implementation: str = param(
        "",
        "Attention kernel passed to transformers (sdpa, eager, flash_attention_2; '' = default).",
    )
    allowed_models: str = param(
        "", "Comma-separated model ids or paths clients may load ('' = any; --model always)."
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        head, _, index = value.partition(":")
        if head not in DEVICE_CHOICES or (index and (head != "cuda" or not index.isdigit())):
            raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)} or cuda:N")
        return value

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, value: str) -> str:
        value = value.strip().lower()
        aliases = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16"}
        value = aliases.get(value, value)
        if value not in DTYPE_CHOICES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}")
        return value

    def allowed(self) -> list[str]:
        """The allow-list of model ids/paths (empty: any model)."""
        return [m.strip() for m in self.allowed_models.split(",") if m.strip()]


def load_config(options: dict[str, Any]) -> LocalConfig:
    """Validate the ``[local]`` options; a bad value stops the server at start-up."""
    try:
        return LocalConfig.model_validate(options)
    except ValueError as exc:
        raise UpstreamConfigError(f"Invalid option for the local upstream: {exc}") from exc
