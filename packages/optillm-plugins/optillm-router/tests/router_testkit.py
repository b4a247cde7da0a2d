"""Helpers for the router tests: a tiny random ModernBERT classifier in the reference's layout,
saved to disk (safetensors + config + a tokenizer trained with ``tokenizers``), whose head bias
decides which label wins; and apps with the router and chosen approaches installed.

The classifier is built here with plain torch modules named as in the reference checkpoint
(``base_model``, ``effort_encoder.{0,2}``, ``classifier``), independently of the package's own
module class, so loading it checks compatibility with that layout.
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from optillm_core import hookimpl
from optillm_core.testing import FakeUpstream, make_app
from optillm_router import LABELS
from optillm_router.plugin import Router

HIDDEN = 32
LINES = [
    "what is the capital of france",
    "write a python function that reverses a list",
    "prove that the square root of two is irrational",
    "User: solve for x when 2 x plus 3 equals 11",
    "summarize this article in three sentences please",
    "you are a helpful assistant answer briefly",
]

_root = Path(tempfile.mkdtemp(prefix="optillm-router-test-"))
atexit.register(shutil.rmtree, _root, True)
_built: dict[tuple[Any, ...], Path] = {}


def _tokenizer(directory: Path) -> int:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(LINES, trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(directory))
    return int(tok.get_vocab_size())


def _encoder_config(vocab_size: int) -> Any:
    from transformers import ModernBertConfig

    return ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=HIDDEN,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=2,
        pad_token_id=0,
        cls_token_id=2,
        sep_token_id=3,
        bos_token_id=2,
        eos_token_id=3,
        local_attention=16,
    )


def build_classifier(
    biases: dict[str, float],
    *,
    effort_label: str | None = None,
    with_config: bool = True,
) -> Path:
    """A saved tiny classifier whose logits are ``biases`` (others 0) for every prompt; with
    ``effort_label``, that label's logit also grows by 20 x effort (so high effort picks it).
    Without ``with_config`` the directory has no encoder config.json (use ``config_only``)."""
    key = (tuple(sorted(biases.items())), effort_label, with_config)
    if key in _built:
        return _built[key]
    import torch
    from safetensors.torch import save_file
    from torch import nn
    from transformers import AutoModel

    directory = _root / f"clf{len(_built)}"
    directory.mkdir()
    vocab_size = _tokenizer(directory)
    config = _encoder_config(vocab_size)
    torch.manual_seed(0)
    root = nn.Module()
    root.base_model = AutoModel.from_config(config)
    root.effort_encoder = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
    root.classifier = nn.Linear(HIDDEN + 64, len(LABELS))
    with torch.no_grad():
        first, second = root.effort_encoder[0], root.effort_encoder[2]
        first.weight.fill_(1.0)  # every unit = relu(effort)
        first.bias.zero_()
        second.weight.copy_(torch.eye(64))
        second.bias.zero_()
        root.classifier.weight.zero_()
        root.classifier.bias.copy_(torch.tensor([biases.get(label, 0.0) for label in LABELS]))
        if effort_label is not None:
            row = LABELS.index(effort_label)
            root.classifier.weight[row, HIDDEN] = 20.0  # one effort unit
    state = {name: tensor.contiguous() for name, tensor in root.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"))
    if with_config:
        config.save_pretrained(str(directory))
    _built[key] = directory
    return directory


def probability(biases: dict[str, float], label: str) -> str:
    """The classifier's probability of ``label`` for ``biases``, as the header shows it."""
    weights = {name: math.exp(biases.get(name, 0.0)) for name in LABELS}
    return f"{weights[label] / sum(weights.values()):.2f}"


def config_only() -> Path:
    """A directory holding only the tiny encoder's config.json (a stand-in ``base_model``)."""
    directory = _root / "base-config"
    if not directory.exists():
        directory.mkdir()
        vocab_size = _tokenizer(_root / "vocab-probe")
        _encoder_config(vocab_size).save_pretrained(str(directory))
    return directory


def plugin_for(router: Router) -> types.ModuleType:
    """A plugin module registering this router instance."""
    module = types.ModuleType("router_test_plugin")

    @hookimpl
    def register_approaches(register: Callable[[Any], None]) -> None:
        register(router)

    module.register_approaches = register_approaches  # type: ignore[attr-defined]
    return module


def router_app(
    fake: FakeUpstream,
    approaches: Iterable[object] = (),
    *,
    router: Router | None = None,
    base_url: str | None = None,
    **options: Any,
) -> Any:
    """The proxy over ``fake`` with the router (configured by ``options``) and ``approaches``
    (plugin modules) installed; ``none`` is always there."""
    router_plugin = plugin_for(router or Router())
    return make_app(
        fake,
        [router_plugin, *approaches],
        base_url=base_url,
        plugin_options={"router": {k: str(v) for k, v in options.items()}},
    )
