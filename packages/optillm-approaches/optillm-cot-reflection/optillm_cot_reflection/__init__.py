"""optillm approach ``cot_reflection``: think, reflect and answer inside tags in one call."""
