"""optillm ``executecode``: the model writes Python, the sandbox runs it, the output informs the answer."""
