"""``robustlab <paper> <command>``: subcommands that installed paper packages add.

A paper's ``PAPER`` object contributes them through a ``cli(subparsers)`` method (see
:meth:`robustlab.core.repro.Paper.cli`); each parser it adds sets ``func=callable(args) -> int``.
A paper whose name is already a core command, or whose ``cli`` fails, is skipped with a warning.
"""

from __future__ import annotations

import argparse
from typing import Any

from robustlab.core.utils import get_logger

log = get_logger(__name__)


def paper_commands(paper: Any) -> Any:
    """The paper's ``cli`` hook, or None when it adds no subcommands (the base class no-op)."""
    from robustlab.core.repro.paper import Paper

    hook = getattr(paper, "cli", None)
    if not callable(hook) or getattr(hook, "__func__", None) is Paper.cli:
        return None
    return hook


def core_commands() -> set[str]:
    """Names of core's own subcommands (``cmd_<name>.py`` modules of this package)."""
    import pkgutil

    from robustlab.core import cli

    mods = (m.name for m in pkgutil.iter_modules(cli.__path__))
    return {m.removeprefix("cmd_") for m in mods if m.startswith("cmd_")}


def add_paper_parsers(sub: Any, papers: dict[str, Any]) -> list[str]:
    """Attach ``robustlab <paper> ...`` for every paper with subcommands; returns their names."""
    taken = set(sub.choices) | core_commands()
    added = []
    for name, paper in sorted(papers.items()):
        hook = paper_commands(paper)
        if hook is None:
            continue
        if name in taken:
            log.warning("paper %r: its name is a core command; its subcommands are not added", name)
            continue
        parser = sub.add_parser(name, help=f"commands of the {name} paper package")
        inner = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
        try:
            hook(inner)
        except Exception as exc:  # a broken plugin must not break the core CLI
            log.warning("paper %r: could not add its subcommands: %s", name, exc)
            continue
        added.append(name)
    return added


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add every installed paper package's subcommands (through ``robustlab.papers``)."""
    from robustlab.core.plugins import load_paper_plugins

    add_paper_parsers(sub, load_paper_plugins())
