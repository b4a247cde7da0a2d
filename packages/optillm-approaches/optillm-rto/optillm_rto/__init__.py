"""optillm approach ``rto``: round-trip optimization for code answers."""
