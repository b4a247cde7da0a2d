"""optillm ``z3``: formalize for the Z3 solver, solve in the sandbox, explain the result."""
