"""Discovery of paper packages through the ``robustlab.papers`` entry-point group.

A paper package declares, in its ``pyproject.toml``::

    [project.entry-points."robustlab.papers"]
    ctr = "robustlab.ctr.paper:PAPER"

Importing the entry point registers the package's losses, methods, attacks and suites
(prefixed ``ctr/...``) in the core registries. Core never imports a paper package by name.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)
GROUP = "robustlab.papers"
_loaded: dict[str, Any] = {}
_loading = False


def load_paper_plugins() -> dict[str, Any]:
    """Import every installed paper package once; returns {paper name: its PAPER object}."""
    global _loading
    if _loading:
        return _loaded
    _loading = True
    try:
        for ep in entry_points(group=GROUP):
            if ep.name in _loaded:
                continue
            try:
                _loaded[ep.name] = ep.load()
            except Exception as exc:  # a broken plugin must not break core
                log.warning("could not load paper package %r: %s", ep.name, exc)
    finally:
        _loading = False
    return _loaded


def paper_names() -> list[str]:
    """Names of the installed paper packages (e.g. ['ctr', 'pcloss'])."""
    return sorted(load_paper_plugins())


def get_paper(name: str) -> Any:
    """The ``PAPER`` object of an installed paper package.

    Raises:
        UnknownNameError: if no such paper package is installed.
    """
    from robustlab.core.errors import UnknownNameError

    papers = load_paper_plugins()
    if name not in papers:
        raise UnknownNameError(
            f"unknown paper {name!r}; installed paper packages: {', '.join(sorted(papers)) or 'none'} "
            f"(install one with `pip install packages/{name}`)"
        )
    return papers[name]
