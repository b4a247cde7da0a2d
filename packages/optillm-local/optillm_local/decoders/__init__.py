"""Decoding strategies of the local engine and the contract third-party decoders follow."""

from .base import BaseDecoder, ChoiceOut, DecodeContext, Decoder, DecodeResult, DecodingCancelled
from .cot import CotDecoder, CotParams
from .entropy import EntropyDecoder, EntropyParams

__all__ = [
    "BaseDecoder",
    "ChoiceOut",
    "CotDecoder",
    "CotParams",
    "DecodeContext",
    "DecodeResult",
    "Decoder",
    "DecodingCancelled",
    "EntropyDecoder",
    "EntropyParams",
]
