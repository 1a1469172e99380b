"""The ``robustlab`` command line.

Each module in this package named ``cmd_*.py`` contributes one subcommand through two
functions: ``add_parser(subparsers)`` registers its argparse parser and sets
``func=run`` on it; ``run(args) -> int`` does the work. Errors a user can cause
(:class:`~robustlab.core.errors.RobustlabError`, ``ValueError``) are printed as one line on
stderr with exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from robustlab.core import __version__
from robustlab.core.errors import RobustlabError
from robustlab.core.utils.logging import configure_logging


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every ``cmd_*`` subcommand attached."""
    parser = argparse.ArgumentParser(
        prog="robustlab",
        description="Reproduce, compare and extend adversarial-robustness papers.",
    )
    parser.add_argument("--version", action="version", version=f"robustlab-core {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
        importlib.import_module(f"{__name__}.{mod}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``robustlab`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging("DEBUG" if args.debug else "INFO")
    try:
        return int(args.func(args) or 0)
    except (RobustlabError, ValueError) as exc:
        if args.debug:
            raise
        sys.stderr.write(f"robustlab: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("robustlab: interrupted (finished work is kept; re-run to resume)\n")
        return 130
