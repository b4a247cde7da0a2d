"""optillm-moa: the ``moa`` (Mixture of Agents with one model) approach for optillm."""
