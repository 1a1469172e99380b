"""``robustlab list KIND``: the registered names of one kind."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

# kind -> "module:attribute" of its registry (imported lazily: `list datasets` needs no attacks).
REGISTRIES = {
    "datasets": "robustlab.core.data:DATASETS",
    "models": "robustlab.core.models:MODELS",
    "attacks": "robustlab.core.attacks:ATTACKS",
    "methods": "robustlab.core.train:METHODS",
    "suites": "robustlab.core.eval:SUITES",
}


def registry(kind: str) -> Any:
    """Import and return the registry for ``kind`` (one of :data:`REGISTRIES`)."""
    module, attr = REGISTRIES[kind].split(":")
    return getattr(importlib.import_module(module), attr)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "list", help="list registered datasets, models, attacks, methods, suites or papers"
    )
    p.add_argument("kind", choices=[*REGISTRIES, "papers"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.kind == "papers":
        from robustlab.core.plugins import paper_names

        names = paper_names()
    else:
        names = registry(args.kind).names()
    sys.stdout.write("\n".join(names) + ("\n" if names else ""))
    return 0
