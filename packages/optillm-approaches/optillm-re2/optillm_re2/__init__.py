"""optillm approach ``re2``: re-reading — the question is given twice before the answer."""
