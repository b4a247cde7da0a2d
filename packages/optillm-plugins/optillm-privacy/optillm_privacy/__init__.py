"""optillm ``privacy``: PII is replaced by per-request placeholders before anything goes upstream,
and the placeholders in the answer are replaced by the original values again."""
