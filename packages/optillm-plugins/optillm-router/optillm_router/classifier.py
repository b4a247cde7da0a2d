"""The routing classifier: a ModernBERT encoder, a small MLP over the scalar "effort", and a
linear head over both (torch, transformers and huggingface_hub are imported only here, and only
when a classifier is first loaded — the router calls this module from a worker thread).

Checkpoint layout (the reference's ``codelion/optillm-modernbert-large``): one
``model.safetensors`` holding ``base_model.*`` (the encoder), ``effort_encoder.{0,2}.*``
(``Linear(1, 64)``, ReLU, ``Linear(64, 64)``, ReLU) and ``classifier.*`` (``Linear(hidden + 64,
13)``); the tokenizer beside it; the encoder's ``config.json`` beside it or, when absent, taken
from the base model (its config only: the checkpoint already holds every encoder weight).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import LABELS, RouterConfig

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
EFFORT_WIDTH = 64
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ClassifierUnavailable(Exception):
    """The classifier could not be loaded; the message says why."""


@dataclass(frozen=True)
class ClassifierSource:
    """Where a classifier comes from and where it runs (the key of the router's cache)."""

    model_path: str
    base_model: str
    cache_dir: str
    device: str

    @classmethod
    def of(cls, config: RouterConfig) -> ClassifierSource:
        """The source a router configuration names."""
        return cls(config.model_path, config.base_model, config.cache_dir, config.device)


@dataclass
class LoadedClassifier:
    """A loaded classifier with its tokenizer, ready for :meth:`predict`."""

    model: Any
    tokenizer: Any
    device: str

    def predict(self, text: str, effort: float, max_length: int) -> list[float]:
        """The probability of every label in :data:`LABELS` order (blocking: run in a thread)."""
        import torch

        encoded = self.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        input_ids = encoded["input_ids"].to(self.device)
        attention_mask = encoded["attention_mask"].to(self.device)
        effort_tensor = torch.tensor([effort], dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            logits = self.model(input_ids, attention_mask, effort_tensor)
            probabilities = torch.softmax(logits.float(), dim=-1)[0]
        return [float(p) for p in probabilities.cpu().tolist()]


@functools.cache
def classifier_class() -> Any:
    """The torch module class (built on first use so that importing this module stays light)."""
    import torch
    from torch import nn

    class RouterClassifier(nn.Module):
        """Encoder CLS vector and encoded effort, concatenated, into one linear layer."""

        def __init__(self, encoder: Any, hidden_size: int, num_labels: int) -> None:
            super().__init__()
            self.base_model = encoder
            self.effort_encoder = nn.Sequential(
                nn.Linear(1, EFFORT_WIDTH),
                nn.ReLU(),
                nn.Linear(EFFORT_WIDTH, EFFORT_WIDTH),
                nn.ReLU(),
            )
            self.classifier = nn.Linear(hidden_size + EFFORT_WIDTH, num_labels)

        def forward(self, input_ids: Any, attention_mask: Any, effort: Any) -> Any:
            hidden = self.base_model(input_ids=input_ids, attention_mask=attention_mask)
            cls_vector = hidden.last_hidden_state[:, 0]
            encoded = self.effort_encoder(effort.unsqueeze(1))
            return self.classifier(torch.cat((cls_vector, encoded), dim=1))

    return RouterClassifier


def choose_device(preference: str) -> str:
    """The device for ``preference`` (``auto``: CUDA, then MPS, then CPU)."""
    import torch

    if preference != "auto":
        if preference.startswith("cuda") and not torch.cuda.is_available():
            raise ClassifierUnavailable(f"device {preference!r} configured, CUDA unavailable")
        return preference
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def _has_encoder_config(config_file: Path) -> bool:
    try:
        return "model_type" in json.loads(config_file.read_text())
    except (OSError, ValueError):
        return False


def _local_files(path: Path, source: ClassifierSource) -> tuple[str, str, str]:
    if not path.is_dir():
        raise ClassifierUnavailable(f"{source.model_path!r} is not a directory")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise ClassifierUnavailable(f"{source.model_path!r} has no {WEIGHTS}")
    config_source = str(path) if _has_encoder_config(path / "config.json") else source.base_model
    return str(weights), config_source, str(path)


def _hub_files(source: ClassifierSource) -> tuple[str, str, str]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    repo = source.model_path
    cache_dir = source.cache_dir or None
    weights = hf_hub_download(repo, WEIGHTS, cache_dir=cache_dir)
    config_source = source.base_model
    try:
        config_file = hf_hub_download(repo, "config.json", cache_dir=cache_dir)
    except EntryNotFoundError:  # not in the repository, or offline and not cached
        pass
    else:
        if _has_encoder_config(Path(config_file)):
            config_source = repo
    return weights, config_source, repo


def resolve_files(source: ClassifierSource) -> tuple[str, str, str]:
    """``(weights file, encoder config source, tokenizer source)`` for a local directory or a
    hub id (downloaded, or read from the cache when ``HF_HUB_OFFLINE`` is set)."""
    path = Path(source.model_path).expanduser()
    if path.exists():
        return _local_files(path, source)
    if not _HUB_ID.match(source.model_path) or source.model_path.startswith((".", "~")):
        raise ClassifierUnavailable(f"directory {source.model_path!r} does not exist")
    return _hub_files(source)


def load_classifier(source: ClassifierSource) -> LoadedClassifier:
    """Load the classifier (blocking: run in a worker thread); raises on any failure."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    weights, config_source, tokenizer_source = resolve_files(source)
    cache_dir = source.cache_dir or None
    encoder_config = AutoConfig.from_pretrained(config_source, cache_dir=cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, cache_dir=cache_dir)
    device = choose_device(source.device)
    encoder = AutoModel.from_config(encoder_config)  # type: ignore[no-untyped-call]
    model = classifier_class()(encoder, encoder_config.hidden_size, len(LABELS))
    state = load_file(weights, device="cpu")
    expected = (len(LABELS), encoder_config.hidden_size + EFFORT_WIDTH)
    head = state.get("classifier.weight")
    shape = None if head is None else tuple(head.shape)
    if shape != expected:
        raise ClassifierUnavailable(
            f"{source.model_path!r} is not a router checkpoint: classifier.weight has shape "
            f"{shape}, expected {expected}"
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ClassifierUnavailable(
            f"{source.model_path!r} does not match the router's layout (missing "
            f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    model.to(device=device, dtype=torch.float32)
    model.eval()
    logger.info("router classifier %s loaded on %s", source.model_path, device)
    return LoadedClassifier(model, tokenizer, device)
