"""Checkpoints: safetensors weights + a JSON metadata sidecar, written atomically, loaded strictly.

``save_checkpoint("run/model.safetensors", model, meta)`` writes

* ``run/model.safetensors`` — the state dict (the metadata JSON is also embedded in its header),
* ``run/model.meta.json`` — the metadata: the caller's ``meta`` keys at top level, plus one
  reserved key ``_checkpoint`` holding the format version, creation time, the model's build
  config (``model``) and library versions / git SHA (``environment``).

``load_checkpoint(path, model)`` checks the keys strictly. Known foreign layouts are handled by
name, each with a log line, never by ``strict=False``:

* the ``module.`` prefix of ``DataParallel``/``DistributedDataParallel`` checkpoints and the
  ``_orig_mod.`` prefix of ``torch.compile``d models;
* the reference implementation's layer names (``Classifier.reference_key_map``, e.g. ``fc.`` ->
  ``head.``);
* TRADES' unused ``sub_block1.*`` WideResNet keys, dropped only when the target has no
  ``sub_block1``;
* a missing ``normalize.*`` buffer (a checkpoint of a model trained on normalised inputs
  outside the model): the target keeps its own normalisation layer.

Anything else (other architecture, missing/unexpected keys, shape mismatch, truncated or corrupt
file) raises one :class:`CheckpointError` naming the file, the problem and the fix. Legacy
``.pt``/``.pth`` torch state dicts are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from robustlab.core.errors import CheckpointError
from robustlab.core.utils import atomic_write_bytes, atomic_write_json, environment_info, get_logger

__all__ = [
    "FORMAT_VERSION",
    "RESERVED_KEY",
    "load_checkpoint",
    "load_model",
    "meta_path",
    "save_checkpoint",
]

log = get_logger(__name__)

FORMAT_VERSION = 1
_META_KEY = "robustlab_meta"
RESERVED_KEY = "_checkpoint"
_WRAPPER_PREFIXES = {"module.": "DataParallel", "_orig_mod.": "torch.compile"}
_LEGACY_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
_CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "net")


def meta_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of a checkpoint: ``model.safetensors`` -> ``model.meta.json``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.meta.json")


def _tensor_state(obj: nn.Module | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = obj.state_dict() if isinstance(obj, nn.Module) else obj
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"state dict entry {k!r} is a {type(v).__name__}, not a tensor")
        t = v.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen and t.numel() > 0:  # safetensors refuses tensors that share storage
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[k] = t
    return out


def save_checkpoint(
    path: str | os.PathLike[str],
    model_or_state_dict: nn.Module | dict[str, torch.Tensor],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write weights (safetensors) and metadata (JSON sidecar), each atomically.

    Args:
        path: Target file, conventionally ``*.safetensors``.
        model_or_state_dict: A model (its ``state_dict()`` is saved; a :class:`Classifier`'s build
            config is recorded so :func:`load_model` can rebuild it) or a tensor state dict.
        meta: JSON-serialisable metadata (config, epoch, metrics...); ``load_checkpoint`` returns
            it with the reserved key ``_checkpoint`` added.

    Returns:
        The weights path.
    """
    path = Path(path)
    meta = dict(meta or {})
    if RESERVED_KEY in meta:
        raise ValueError(f"meta key {RESERVED_KEY!r} is reserved for the checkpoint's own metadata")
    tensors = _tensor_state(model_or_state_dict)
    info: dict[str, Any] = {
        "format": "robustlab-checkpoint",
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": environment_info(),
    }
    config = getattr(model_or_state_dict, "build_config", None)
    if config:
        info["model"] = config
    full = {**meta, RESERVED_KEY: info}
    blob = json.dumps(full, sort_keys=True, default=str)
    atomic_write_bytes(path, st_save(tensors, metadata={_META_KEY: blob}))
    atomic_write_json(meta_path(path), json.loads(blob))
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file into (state dict, metadata); every failure -> CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path or train first")
    if path.suffix in _LEGACY_SUFFIXES:
        return _read_legacy(path), _read_sidecar(path) or {}
    data = path.read_bytes()
    try:
        sd = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: {err}); "
            f"delete it and re-create it (re-run training or re-download)"
        ) from None
    # the header copy is written together with the weights, so it is authoritative; the sidecar
    # is its human-readable twin (and the only metadata of foreign safetensors files)
    embedded = (header.get("__metadata__") or {}).get(_META_KEY)
    if embedded:
        return sd, json.loads(embedded)
    return sd, _read_sidecar(path) or {}


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    side = meta_path(path)
    if not side.is_file():
        return None
    try:
        return dict(json.loads(side.read_text(encoding="utf-8")))
    except (ValueError, OSError) as err:
        raise CheckpointError(
            f"metadata {side} of checkpoint {path} is corrupt ({err}); delete the .meta.json "
            f"file to fall back to the metadata embedded in the weights file"
        ) from None


def _read_legacy(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"legacy checkpoint {path} cannot be read safely ({type(err).__name__}: {err}); "
            f"it must be a torch state dict loadable with weights_only=True"
        ) from None
    if isinstance(obj, dict):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), dict):
                log.info("checkpoint %s: using the state dict stored under %r", path, key)
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"legacy checkpoint {path} holds a {type(obj).__name__}, not a tensor state dict "
            f"(nor one under {list(_CONTAINER_KEYS)}); save model.state_dict() instead"
        )
    return dict(obj)


def _adapt_keys(
    sd: dict[str, torch.Tensor], model: nn.Module, path: Path
) -> dict[str, torch.Tensor]:
    """Apply the known, named foreign-layout fixes (see module docstring)."""
    target = model.state_dict()
    keys = set(target)
    for prefix, wrapper in _WRAPPER_PREFIXES.items():
        if (
            sd
            and all(k.startswith(prefix) for k in sd)
            and not any(k.startswith(prefix) for k in keys)
        ):
            log.info("checkpoint %s: stripping the %s prefix %r", path, wrapper, prefix)
            sd = {k[len(prefix) :]: v for k, v in sd.items()}
    key_map: dict[str, str] = getattr(model, "reference_key_map", {})
    for old, new in key_map.items():
        if any(k.startswith(old) for k in sd) and not any(k.startswith(new) for k in sd):
            log.info("checkpoint %s: renaming reference keys %r -> %r", path, old + "*", new + "*")
            sd = {(new + k[len(old) :] if k.startswith(old) else k): v for k, v in sd.items()}
    has_sub = any(k.startswith("sub_block1.") for k in keys)
    dropped = [k for k in sd if k.startswith("sub_block1.")]
    if dropped and not has_sub:
        log.info(
            "checkpoint %s: dropping %d unused TRADES 'sub_block1.*' keys (the target WideResNet "
            "has no sub_block1)",
            path,
            len(dropped),
        )
        sd = {k: v for k, v in sd.items() if not k.startswith("sub_block1.")}
    missing_norm = [k for k in keys - set(sd) if k.startswith("normalize.")]
    if missing_norm:
        log.info("checkpoint %s: no input normalisation stored; keeping the model's own", path)
        sd = {**sd, **{k: target[k] for k in missing_norm}}
    return sd


def _fmt(keys: list[str], n: int = 6) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def _check_match(
    sd: dict[str, torch.Tensor], model: nn.Module, path: Path, meta: dict[str, Any], strict: bool
) -> None:
    target = model.state_dict()
    saved_arch = (meta.get(RESERVED_KEY, {}).get("model") or {}).get("name")
    model_arch = getattr(model, "arch", "")
    arch_note = (
        f" The checkpoint was saved from model {saved_arch!r}; the target is {model_arch!r}."
        if saved_arch and model_arch and saved_arch != model_arch
        else ""
    )
    fix = (
        f" Fix: build the model the checkpoint was saved from (load_model({str(path)!r}) does "
        f"this from its metadata) with the same options."
    )
    if saved_arch and model_arch and saved_arch != model_arch:
        raise CheckpointError(f"checkpoint {path} is for a different architecture.{arch_note}{fix}")
    missing = sorted(set(target) - set(sd))
    unexpected = sorted(set(sd) - set(target))
    if (missing or unexpected) and strict:
        parts = []
        if missing:
            parts.append(f"missing keys: {_fmt(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_fmt(unexpected)}")
        raise CheckpointError(
            f"checkpoint {path} does not match {type(model).__name__}: {'; '.join(parts)}."
            f"{arch_note}{fix}"
        )
    if missing or unexpected:
        log.warning(
            "checkpoint %s loaded with strict=False: missing %s, unexpected %s",
            path,
            _fmt(missing),
            _fmt(unexpected),
        )
    bad = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in sd.items()
        if k in target and v.shape != target[k].shape
    ]
    if bad:
        raise CheckpointError(
            f"checkpoint {path} has tensors of the wrong shape for {type(model).__name__} "
            f"({_fmt(bad, 3)}); the width, depth, class count or input size differ.{arch_note}{fix}"
        )


def load_checkpoint(
    path: str | os.PathLike[str], model: nn.Module | None = None, strict: bool = True
) -> tuple[Any, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (or a legacy torch state dict).

    Args:
        path: ``*.safetensors`` (with or without its ``.meta.json``) or ``*.pt``/``*.pth``.
        model: If given, the weights are loaded into it (in place) after the named key fixes.
        strict: Missing or unexpected keys are an error. With ``strict=False`` they are listed
            in a warning instead; shape mismatches and a different architecture are always errors.

    Returns:
        ``(state_dict, meta)`` without a model, ``(model, meta)`` with one. ``meta`` is what the
        caller saved plus ``meta["_checkpoint"]`` (format, environment, model build config);
        ``{}`` for legacy files without a sidecar.

    Raises:
        CheckpointError: missing, truncated or corrupt file; keys or shapes that do not match.
    """
    path = Path(path)
    sd, meta = _read(path)
    if model is None:
        return sd, meta
    sd = _adapt_keys(sd, model, path)
    _check_match(sd, model, path, meta, strict)
    model.load_state_dict(sd, strict=strict)
    return model, meta


def load_model(path: str | os.PathLike[str], **overrides: Any) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the zoo model recorded in a checkpoint's metadata and load its weights.

    Args:
        path: A checkpoint saved from a model built with ``robustlab.core.models.build``.
        **overrides: Build options to change (e.g. ``image_size``).

    Raises:
        CheckpointError: if the checkpoint records no model config (e.g. a legacy file).
    """
    from robustlab.core.models.zoo import build

    _, meta = _read(Path(path))
    config = dict(meta.get(RESERVED_KEY, {}).get("model") or {})
    if "name" not in config:
        raise CheckpointError(
            f"checkpoint {path} records no model configuration; build the model yourself and "
            f"call load_checkpoint({str(path)!r}, model)"
        )
    config.update(overrides)
    name = config.pop("name")
    model = build(name, **config)
    return load_checkpoint(path, model)
