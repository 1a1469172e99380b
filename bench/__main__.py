"""``python -m bench [NAME ...] [--out DIR]``: run the benchmark modules and write JSON.

Every module ``bench/bench_<name>.py`` defines ``run(quick: bool) -> dict``; its result is written
to ``<out>/<name>.json`` together with the environment it ran on. Speed is measured here, side by
side in one process, never in timed tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import time
from pathlib import Path

import bench
from robustlab.core.utils import atomic_write_json, environment_info

log = logging.getLogger("bench")


def main() -> int:
    names = sorted(
        m.name[6:] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {names})")
    parser.add_argument(
        "--out", default="bench/results", help="output directory for the JSON files"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; available: {names}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.names or names:
        start = time.perf_counter()
        result = importlib.import_module(f"bench.bench_{name}").run(quick=args.quick)
        result = {
            "benchmark": name,
            "wall_s": round(time.perf_counter() - start, 2),
            "environment": environment_info("cpu"),
            **result,
        }
        path = atomic_write_json(Path(args.out) / f"{name}.json", result)
        log.info(
            "%s -> %s\n%s",
            name,
            path,
            json.dumps({k: v for k, v in result.items() if k != "environment"}, indent=2),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
