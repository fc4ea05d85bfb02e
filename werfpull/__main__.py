"""`python -m werfpull`."""

from werfpull.cli import main

raise SystemExit(main())
