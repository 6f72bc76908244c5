"""``python -m appws``: the ``appws`` command line (see ``appws.cli``)."""

from appws.cli import main

raise SystemExit(main())
