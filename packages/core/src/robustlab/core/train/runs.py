"""Run directories: config check, finished-run detection and loading a trained model back.

A run directory holds ``config.json`` (the TrainConfig), ``train_state.safetensors`` (+ ``.json``;
resume point, rewritten after every epoch), ``train_log.jsonl``, ``best.safetensors`` (when a best
epoch is selected), ``model.safetensors`` (final weights, ``robustlab.core.models`` checkpoint format)
and ``metrics.json`` (written last; its presence marks the run finished).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train.config import TrainConfig
from robustlab.core.utils import atomic_write_json

# Keys that may differ between a run and its resumption without changing the result.
_NON_SEMANTIC = ("data_root",)


@dataclass
class TrainResult:
    """What :func:`~robustlab.core.train.train` returns.

    Attributes:
        model: The selected model (best epoch when ``select_best`` is set, else the last), eval mode.
        metrics: The contents of ``metrics.json``.
        run_dir: The run directory.
        checkpoint: Path of the selected model's checkpoint (``best.safetensors`` or
            ``model.safetensors``), loadable with ``robustlab.core.models.load_model``.
    """

    model: nn.Module
    metrics: dict[str, Any]
    run_dir: Path
    checkpoint: Path


def _semantic(d: dict[str, Any]) -> dict[str, Any]:
    """The keys that define the run, JSON-normalised (tuples compare equal to lists)."""
    return {k: v for k, v in json.loads(json.dumps(d)).items() if k not in _NON_SEMANTIC}


def claim_run_dir(config: TrainConfig, run_dir: Path) -> None:
    """Write ``config.json`` or check that the existing one describes the same run.

    Raises:
        ConfigError: the directory belongs to a run with a different configuration.
    """
    path = run_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text())
        try:
            same = _semantic(TrainConfig.from_dict(old).to_dict()) == _semantic(config.to_dict())
        except ConfigError:
            same = False
        if not same:
            new = _semantic(config.to_dict())
            diff = sorted(k for k in new if _semantic(old).get(k) != new[k])
            raise ConfigError(
                f"{run_dir} holds a run with a different configuration (differs in {diff}); "
                "use another run directory or delete this one"
            )
        return
    atomic_write_json(path, config.to_dict())


def open_run_dir(config: TrainConfig, run_dir: Path, fetch_data: bool = False) -> bool:
    """Create ``run_dir`` and claim it (:func:`claim_run_dir`); True when the run is finished.

    With ``fetch_data`` (rank 0 of a data-parallel job) an unfinished run's dataset is made
    present first (``robustlab.core.data.ensure``), so the other ranks never download it too.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    claim_run_dir(config, run_dir)
    if is_finished(run_dir):
        return True
    if fetch_data:
        from robustlab.core.data import ensure

        ensure(config.dataset, config.data_root)
    return False


def is_finished(run_dir: Path) -> bool:
    """True when ``metrics.json`` marks the run as finished."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return False
    try:
        return bool(json.loads(path.read_text()).get("finished"))
    except json.JSONDecodeError:
        return False


def load_run(run_dir: str | Path, device: str | torch.device | None = None) -> TrainResult:
    """Load a finished run: its selected model (eval mode) and metrics.

    Raises:
        ConfigError: the run is not finished (train it with ``train``).
        CheckpointError: its checkpoint is missing or corrupt.
    """
    from robustlab.core.models import load_model
    from robustlab.core.utils import get_device

    run_dir = Path(run_dir)
    if not is_finished(run_dir):
        raise ConfigError(f"{run_dir} is not a finished training run (no finished metrics.json)")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ckpt = run_dir / metrics["checkpoint"]
    model, _ = load_model(ckpt)
    model.to(get_device(device)).eval()
    return TrainResult(model, metrics, run_dir, ckpt)


def resolve_init_from(path: str) -> Path:
    """A checkpoint file, or a finished run directory (its selected checkpoint)."""
    p = Path(path)
    if p.is_dir():
        if not is_finished(p):
            raise ConfigError(f"init_from={path!r} is a directory but not a finished run")
        return p / json.loads((p / "metrics.json").read_text())["checkpoint"]
    if not p.exists():
        raise ConfigError(
            f"init_from={path!r} does not exist; give a checkpoint file or a finished run dir"
        )
    return p
