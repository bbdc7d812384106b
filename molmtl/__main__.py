"""Allow ``python -m molmtl ...`` (used by ``torchrun -m molmtl train``)."""

from molmtl.cli.main import main

raise SystemExit(main())
