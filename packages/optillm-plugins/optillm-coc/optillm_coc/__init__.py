"""optillm Chain of Code (``coc``): write a program, run it in the sandbox, else simulate it."""
