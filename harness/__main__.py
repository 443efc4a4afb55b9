"""Entry point for `python -m harness` and `accelerate launch -m harness`."""

from harness.cli import main

raise SystemExit(main())
