"""``python -m emojisketch``: the same as the ``emojisketch`` console script."""
from .cli import main

raise SystemExit(main())
