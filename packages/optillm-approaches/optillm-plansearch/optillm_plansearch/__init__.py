"""optillm approach ``plansearch``: search over natural-language plans before writing code."""
