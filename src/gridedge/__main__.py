"""`python -m gridedge`: the same as the `gridedge` command."""

from gridedge.cli import main

raise SystemExit(main())
