"""Library logging: modules log through ``get_logger(__name__)``; the CLI installs a rich handler."""

from __future__ import annotations

import logging

_CONFIGURED = False


def get_logger(name: str) -> logging.Logger:
    """Return the logger ``name`` (library code never prints)."""
    return logging.getLogger(name)


def configure_logging(level: int | str = logging.INFO) -> None:
    """Install a rich console handler on the ``robustlab`` logger (idempotent; CLI use)."""
    global _CONFIGURED
    logger = logging.getLogger("robustlab")
    logger.setLevel(level)
    if _CONFIGURED:
        return
    from rich.logging import RichHandler

    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    _CONFIGURED = True
