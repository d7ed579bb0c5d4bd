"""`python -m jittrace`: the jittrace command line."""

from .cli import main

raise SystemExit(main())
