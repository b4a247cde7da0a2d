"""optillm-self-consistency: the ``self_consistency`` (sample and majority-vote) approach."""
