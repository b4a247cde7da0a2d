"""optillm approach ``leap``: learn principles from mistakes on the prompt's few-shot examples."""
