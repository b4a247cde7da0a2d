"""A tiny random-weight causal LM with a trained BPE tokenizer and LoRA adapters, for tests and
benchmarks that must run offline (no model hub). Building one takes well under a second after
the imports.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is 2 + 3? The answer is 5. Let me think step by step.",
    "Hello world, this is a tiny model used in tests.",
    "user: hi assistant: hello there, how can I help?",
    "1 2 3 4 5 6 7 8 9 10 11 12 answer is 42",
    "Wait, let me check. Therefore the final answer is 7.",
]


@dataclass(frozen=True)
class TinyModel:
    """Paths of a saved tiny model and its adapters."""

    path: Path
    adapters: tuple[Path, ...]

    def model_string(self, *adapters: int) -> str:
        """``base+adapter…`` for the given adapter indexes."""
        return "+".join([str(self.path), *(str(self.adapters[i]) for i in adapters)])


def build_tokenizer(chat_template: str | None = CHAT_TEMPLATE, vocab_size: int = 320) -> object:
    """A byte-level BPE tokenizer trained on a few lines, left padding, optional template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_model(
    directory: Path,
    *,
    adapters: int = 2,
    seed: int = 0,
    chat_template: str | None = CHAT_TEMPLATE,
    hidden_size: int = 64,
    layers: int = 2,
) -> TinyModel:
    """Save a random-weight Llama (hidden 64, 2 layers) and ``adapters`` LoRA adapters with
    random (non-zero) weights under ``directory``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tokenizer(chat_template)
    config = LlamaConfig(
        vocab_size=len(tokenizer),  # type: ignore[arg-type]
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    base = directory / "model"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)  # type: ignore[attr-defined]
    paths = []
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    for i in range(adapters):
        fresh = LlamaForCausalLM.from_pretrained(base)
        lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        peft_model = get_peft_model(fresh, lora)
        generator = torch.Generator().manual_seed(seed * 100 + i + 1)
        with torch.no_grad():
            for name, weight in peft_model.named_parameters():
                if "lora_" in name:
                    weight.normal_(0.0, 0.5, generator=generator)
        path = directory / f"adapter{i}"
        peft_model.save_pretrained(str(path))
        paths.append(path)
    return TinyModel(base, tuple(paths))
