"""`python -m bot`: the same entry point as the `ci-truth` command."""

from bot.cli import main

raise SystemExit(main())
