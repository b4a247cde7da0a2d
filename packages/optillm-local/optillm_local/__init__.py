"""optillm-local: in-process Hugging Face models as the optillm upstream ``local``, with LoRA
adapters, batched ``n``, logprobs, streaming and decoding strategies (``cot_decoding``,
``entropy_decoding``). torch and transformers are imported only when a model is first used.
"""

from .config import LocalConfig
from .decoders import BaseDecoder, ChoiceOut, DecodeContext, Decoder, DecodeResult
from .upstream import LocalUpstream, local_upstream

__all__ = [
    "BaseDecoder",
    "ChoiceOut",
    "DecodeContext",
    "DecodeResult",
    "Decoder",
    "LocalConfig",
    "LocalUpstream",
    "local_upstream",
]
