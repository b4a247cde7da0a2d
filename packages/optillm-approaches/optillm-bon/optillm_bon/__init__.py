"""optillm-bon: the ``bon`` (Best-of-N with an LLM judge) approach for optillm."""
