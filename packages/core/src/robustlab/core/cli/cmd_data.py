"""``robustlab data ensure NAME`` and ``robustlab data info NAME``."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("data", help="make a dataset present, or describe it")
    actions = p.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    ensure = actions.add_parser(
        "ensure", help="install/download the dataset if it is missing (apt as root on Debian)"
    )
    ensure.add_argument("name", help="dataset name (robustlab list datasets)")
    ensure.add_argument("--root", default=None, help="directory searched first; download target")
    info = actions.add_parser(
        "info", help="classes, image shape, split sizes, augmentation, location"
    )
    info.add_argument("name", help="dataset name (robustlab list datasets)")
    info.add_argument("--root", default=None, help="directory searched first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustlab.core.data import ensure, find, info

    if args.data_action == "ensure":
        path = ensure(args.name, root=args.root)
        sys.stdout.write(f"{args.name}: present at {path}\n")
        return 0
    meta = info(args.name)
    lines = [f"{k}: {v}" for k, v in asdict(meta).items()]
    for split in ("train", "test"):
        found, _ = find(args.name, split, args.root)
        lines.append(
            f"{split} files: {found if found is not None else 'missing (robustlab data ensure ' + args.name + ')'}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
