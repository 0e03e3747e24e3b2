"""`python -m leadsync`: the local command line."""

from leadsync.cli import main

raise SystemExit(main())
