"""``robustlab train``: train one run with the core engine.

Example::

    robustlab train --method trades --model mnistnet --dataset fashion-mnist --epochs 5 \\
        --set lr=0.01 --set 'method_opts={"eps": 0.1, "alpha": 0.01}' --device cpu

``--set key=value`` sets any :class:`~robustlab.core.train.TrainConfig` field; values are parsed
as JSON, then as a Python literal, else kept as a string. Dotted keys set one entry of a dict
field (``--set method_opts.beta=6``). Unknown keys are rejected listing the valid ones.

Data-parallel: ``torchrun --nproc_per_node=N -m robustlab train ...`` trains one run on N
processes (docs/distributed.md); only rank 0 writes the run directory and this summary.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

from robustlab.core.errors import ConfigError


def parse_value(text: str) -> Any:
    """JSON, else a Python literal, else the string itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_sets(config: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` / ``dict_key.sub=value`` assignments to a config dict."""
    from robustlab.core.train import TrainConfig

    out = dict(config)
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        head, dot, sub = key.partition(".")
        if head not in TrainConfig.valid_keys():
            raise ConfigError(
                f"unknown TrainConfig key {head!r}; valid keys: {', '.join(TrainConfig.valid_keys())}"
            )
        if dot:
            current = out.get(head) or {}
            if not isinstance(current, dict):
                raise ConfigError(
                    f"{head} is not a dict; '{key}=' needs a dict field such as method_opts"
                )
            out[head] = {**current, sub: parse_value(raw)}
        else:
            out[head] = parse_value(raw)
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a model with a registered method (resumes / skips finished runs)"
    )
    p.add_argument("--method", required=True, help="training method (robustlab list methods)")
    p.add_argument("--model", required=True, help="model name (robustlab list models)")
    p.add_argument("--dataset", required=True, help="dataset name (robustlab list datasets)")
    p.add_argument("--epochs", type=int, default=None, help="number of epochs")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any TrainConfig field"
    )
    p.add_argument("--runs-dir", default="runs", help="parent directory of run directories")
    p.add_argument(
        "--name", default=None, help="run directory name (default: derived from the config)"
    )
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:N, mps (default: best available)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustlab.core.train import TrainConfig, train
    from robustlab.core.utils import config_hash

    base: dict[str, Any] = {"method": args.method, "model": args.model, "dataset": args.dataset}
    if args.epochs is not None:
        base["epochs"] = args.epochs
    config = TrainConfig.from_dict(apply_sets(base, args.set))
    name = (
        args.name
        or f"{config.dataset}-{config.model}-{config.method.replace('/', '-')}-{config_hash(config.to_dict())}"
    )
    result = train(
        config, Path(args.runs_dir) / name, device=args.device, progress=not args.no_progress
    )
    from robustlab.core.train.distributed import info

    if not info().is_main:
        return 0
    m = result.metrics
    sys.stdout.write(
        f"run {result.run_dir}: clean test accuracy {m['clean_acc']:.2f}% after {m['epochs_completed']} "
        f"epochs ({m['precision']}); checkpoint {result.checkpoint}\n"
    )
    return 0
