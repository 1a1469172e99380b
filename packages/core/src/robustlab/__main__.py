"""``python -m robustlab``: the robustlab command line (same as the ``robustlab`` script)."""

from robustlab.core.cli import main

raise SystemExit(main())
