"""`python -m werfpull`."""

from werfpull.cli.main import main

raise SystemExit(main())
