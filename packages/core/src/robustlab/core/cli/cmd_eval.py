"""``robustlab eval``: evaluate a checkpoint under an attack suite and write the result as JSON.

Example::

    robustlab eval --model lenet5 --checkpoint runs/x/model.safetensors --dataset fashion-mnist \\
        --suite pgd20 --eps 8/255 --n 1000 --out result.json

Sharded (e.g. one job per shard), then merged into what the unsharded run gives::

    robustlab eval ... --n 10000 --shard 0/4 --out r0.json     # ... up to --shard 3/4
    robustlab eval merge r0.json r1.json r2.json r3.json --out result.json
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.utils import get_logger

log = get_logger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint under an attack suite",
        description="Evaluate a model checkpoint under an attack suite (robust accuracy, "
        "sanity checks) and write RobustBench-style JSON.",
    )
    p.add_argument(
        "--model", help="model name (robustlab list models); default: from the checkpoint"
    )
    p.add_argument("--checkpoint", help="checkpoint file (.safetensors or .pt); required")
    p.add_argument("--dataset", help="dataset name (robustlab list datasets); required")
    p.add_argument(
        "--suite",
        default="pgd20",
        help="suite name (robustlab list suites) or attacks 'fgsm;pgd:steps=20' (default pgd20)",
    )
    p.add_argument("--n", type=int, default=None, help="evaluate the first N test examples")
    p.add_argument("--eps", default=None, help="budget in pixel space, e.g. 8/255 or 0.5")
    p.add_argument("--norm", choices=["Linf", "L2"], default=None, help="threat model norm")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N, mps (default: best available)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--mode",
        choices=["worst-case", "independent"],
        default=None,
        help="worst case over the suite (AutoAttack protocol) or each attack on all examples",
    )
    p.add_argument(
        "--early-stop",
        choices=["auto", "on", "off"],
        default="auto",
        help="stop attacking an example once it is fooled (auto: on in worst-case mode, the "
        "AutoAttack protocol; off in independent mode)",
    )
    p.add_argument(
        "--state", default=None, help="state file for resuming (default: <out>.state.json)"
    )
    p.add_argument("--no-checks", action="store_true", help="skip the sanity checks")
    p.add_argument(
        "--eps-sweep", action="store_true", help="also run the accuracy-to-zero eps sweep"
    )
    p.add_argument("--out", default=None, help="write the result JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="evaluate only shard I of N (0 <= I < N; contiguous whole batches, the same attack "
        "seeds as the whole run); combine the shard files with `robustlab eval merge`",
    )
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="eval_action", metavar="[merge]")
    m = actions.add_parser(
        "merge",
        help="combine shard results into the unsharded result",
        description="Combine the result files of `robustlab eval --shard I/N` (every shard of "
        "one evaluation, any order) into the result the unsharded evaluation gives.",
    )
    m.add_argument("shards", nargs="+", help="shard result files")
    m.add_argument(
        "--out", dest="merge_out", metavar="OUT", default=None, help="write the merged JSON here"
    )
    m.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from robustlab.core.eval.shard import load_shards

    result = load_shards(args.shards)
    if args.merge_out:
        result.save(args.merge_out)
        log.info("merged %d shards into %s", len(args.shards), args.merge_out)
    sys.stdout.write(result.summary() + "\n")
    return 0


def load_model(model_name: str | None, checkpoint: str, dataset: str) -> tuple[Any, str]:
    """Build ``model_name`` for ``dataset`` and load ``checkpoint`` strictly (or rebuild the model
    recorded in the checkpoint when no name is given). Returns (model, architecture name)."""
    from robustlab.core import models
    from robustlab.core.data import info

    path = Path(checkpoint)
    if not path.exists():
        raise ConfigError(f"--checkpoint {checkpoint!r} does not exist")
    _, meta = models.load_checkpoint(path)
    recorded = (meta.get("_checkpoint") or {}).get("model") or {}
    if model_name is None or recorded.get("name") == model_name:
        model, _ = models.load_model(path)
        return model, str(recorded.get("name") or type(model).__name__)
    ds = info(dataset)
    opts: dict[str, Any] = {"num_classes": ds.num_classes, "in_channels": ds.in_channels}
    model = models.build(model_name, **opts)
    models.load_checkpoint(path, model, strict=True)
    return model, model_name


def run(args: argparse.Namespace) -> int:
    from robustlab.core.eval import SanityConfig, evaluate, parse_eps, resolve_suite
    from robustlab.core.eval.shard import ShardSpec, evaluate_shard

    missing = [f"--{k}" for k in ("checkpoint", "dataset") if not getattr(args, k)]
    if missing:
        raise ConfigError(
            f"robustlab eval needs {' and '.join(missing)} (or: robustlab eval merge FILES)"
        )
    shard = ShardSpec.parse(args.shard) if args.shard is not None else None
    if args.n is not None and args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    eps = parse_eps(args.eps) if args.eps is not None else None
    suite = resolve_suite(args.suite, eps, args.norm)
    if args.mode is not None:
        suite = replace(suite, worst_case=args.mode == "worst-case")
    model, arch = load_model(args.model, args.checkpoint, args.dataset)
    state = args.state or (f"{args.out}.state.json" if args.out else None)
    checks: bool | SanityConfig = (
        False if args.no_checks else SanityConfig(eps_sweep=args.eps_sweep)
    )
    opts: dict[str, Any] = {
        "n": args.n,
        "batch_size": args.batch_size,
        "device": args.device,
        "state_path": state,
        "seed": args.seed,
        "progress": not args.no_progress,
        "checks": checks,
        "architecture": arch,
        "early_stop": {"auto": None, "on": True, "off": False}[args.early_stop],
    }
    if shard is None:
        result = evaluate(model, args.dataset, suite, **opts)
    else:
        result = evaluate_shard(model, args.dataset, suite, shard, **opts)
    if args.out:
        result.save(args.out)
        if state and Path(state).exists():
            Path(state).unlink()
        log.info("result written to %s", args.out)
    sys.stdout.write(result.summary() + "\n")
    return 0
