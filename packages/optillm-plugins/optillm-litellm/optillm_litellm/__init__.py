"""optillm upstream ``litellm``: non-OpenAI-compatible providers through ``litellm.acompletion``.

Importing this package does not import litellm; the upstream imports it on its first request.
"""

from .upstream import LiteLLMUpstream, litellm_upstream

__all__ = ["LiteLLMUpstream", "litellm_upstream"]
