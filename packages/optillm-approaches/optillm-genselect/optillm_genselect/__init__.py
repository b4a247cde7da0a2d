"""optillm distribution ``optillm-genselect``: the ``genselect`` approach."""
