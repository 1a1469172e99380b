"""Device selection: CUDA, then Apple MPS, then CPU, unless the caller names one."""

from __future__ import annotations

import torch


def get_device(name: str | torch.device | None = None) -> torch.device:
    """Return the device to run on.

    Args:
        name: "cpu", "cuda", "cuda:1", "mps", a ``torch.device``, or None / "auto" for the
            best available (cuda > mps > cpu).

    Raises:
        ValueError: if the named device is not available on this machine.
    """
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} requested but CUDA is not available here; use --device cpu"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {name!r} requested but MPS is not available here; use --device cpu"
        )
    return dev
