"""The training-state checkpoint: everything needed to resume a run exactly.

One safetensors file (written atomically, so a kill at any moment leaves the previous complete file)
holds every tensor: model weights (``model/<key>``), extra modules (``extra/<name>/<key>``),
optimiser buffers (``optim/<i>/<key>``), method tensors (``method/<key>``) and RNG states
(``rng/...``). The JSON metadata (config, epoch, optimiser hyper-parameters, grad scaler, python and
numpy RNG, method values, history) is embedded in the file's header and mirrored in a readable
``.json`` sidecar.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from robustlab.core.errors import CheckpointError
from robustlab.core.utils import atomic_write_bytes, atomic_write_json

_META_KEY = "robustlab_train_state"


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", copy=True).contiguous()


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Torch (CPU, CUDA) RNG states as tensors; python and numpy states as JSON values."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    py = random.getstate()
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    meta = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [kind, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(gauss)],
    }
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    v, state, gauss = meta["python"]
    random.setstate((v, tuple(state), gauss))
    kind, keys, pos, has_gauss, g = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, g))


def _split(prefix: str, d: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Move tensors of a flat dict into ``tensors`` under ``prefix``; return the rest."""
    rest = {}
    for k, v in d.items():
        if isinstance(v, torch.Tensor):
            tensors[f"{prefix}{k}"] = _cpu(v)
        else:
            rest[k] = v
    return rest


def _optimizer_state(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]
) -> dict[str, Any]:
    sd = opt.state_dict()
    per_param = {str(i): _split(f"optim/{i}/", s, tensors) for i, s in sd["state"].items()}
    return {"param_groups": sd["param_groups"], "state": per_param}


def _load_optimizer(
    opt: torch.optim.Optimizer, meta: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> None:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in meta["state"].items()}
    for key, t in tensors.items():
        if key.startswith("optim/"):
            _, i, name = key.split("/", 2)
            state.setdefault(int(i), {})[name] = t
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_train_state(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    extras: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    method_state: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Atomically write the full training state (see the module docstring)."""
    tensors = {f"model/{k}": _cpu(v) for k, v in model.state_dict().items()}
    for name, mod in extras.items():
        tensors.update({f"extra/{name}/{k}": _cpu(v) for k, v in mod.state_dict().items()})
    rng_t, rng_meta = capture_rng()
    tensors.update(rng_t)
    full = {
        **meta,
        "optimizer": _optimizer_state(optimizer, tensors),
        "scaler": scaler.state_dict(),
        "method": _split("method/", method_state, tensors),
        "rng": rng_meta,
    }
    blob = safetensors.torch.save(tensors, metadata={_META_KEY: json.dumps(full)})
    path = atomic_write_bytes(path, blob)
    atomic_write_json(
        Path(path).with_suffix(".json"), {k: v for k, v in full.items() if k != "rng"}
    )
    return path


def read_train_state(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_train_state`: ``(tensors, meta)``.

    Raises:
        CheckpointError: missing, truncated or not a robustlab training state.
    """
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        meta = json.loads(header[_META_KEY])
    except (OSError, KeyError, ValueError, safetensors.SafetensorError) as err:
        raise CheckpointError(
            f"{path}: not a readable training state ({err}); delete it to restart the run"
        ) from None
    return tensors, meta


def restore_train_state(
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    model: nn.Module,
    extras: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
) -> dict[str, Any]:
    """Load weights, optimiser, scaler and RNG from a read state; return the method state."""

    def sub(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(sub("model/"), strict=True)
        for name, mod in extras.items():
            mod.load_state_dict(sub(f"extra/{name}/"), strict=True)
        _load_optimizer(optimizer, meta["optimizer"], tensors)
    except (RuntimeError, KeyError, ValueError) as err:
        raise CheckpointError(
            f"training state does not match this run's model/optimiser ({err}); "
            "use a new run directory or delete train_state.safetensors"
        ) from None
    scaler.load_state_dict(meta["scaler"])
    restore_rng(tensors, meta["rng"])
    return {**meta["method"], **sub("method/")}
