"""``python -m optillm_core`` is the ``optillm`` command."""

from .cli import main

raise SystemExit(main())
