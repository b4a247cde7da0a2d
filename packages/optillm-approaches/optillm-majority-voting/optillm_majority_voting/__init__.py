"""optillm distribution ``optillm-majority-voting``: the ``majority_voting`` approach."""
