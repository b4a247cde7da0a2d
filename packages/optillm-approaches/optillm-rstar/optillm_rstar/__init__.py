"""optillm-rstar: rStar-style tree search with mutual consistency (approach slug ``rstar``)."""
