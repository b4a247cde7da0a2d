"""optillm distribution ``optillm-pvg``: the ``pvg`` (prover-verifier game) approach."""
