"""optillm-mcts: Monte Carlo Tree Search over dialogue states (approach slug ``mcts``)."""
