"""Mixed precision and memory layout: resolve "auto", build the autocast context and grad scaler.

"auto" means bf16 autocast on CPUs with native bf16 matrix units (AMX or AVX512-BF16, where it is
about 2x faster for small CNNs with channels_last) and fp32 on other CPUs (emulated bf16 is several
times *slower*); fp16 with a gradient scaler on CUDA; fp32 elsewhere.

The training attacks (the inner maximisation of adversarial training) follow the run's precision
by default (:func:`attack_autocast_dtype`): bf16 where the run is bf16, and bf16 too where the
run is fp16 on a GPU with bf16 support, because an fp16 input gradient without loss scaling can
underflow to zero and a sign step of zero does not move. Evaluation attacks stay fp32 (DESIGN).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from robustlab.core.errors import ConfigError


def cpu_has_fast_bf16() -> bool:
    """True when this CPU executes bf16 matmuls/convolutions natively (AMX or AVX512-BF16).

    Honours the ISA caps that restrict PyTorch's kernels: with ``ATEN_CPU_CAPABILITY=avx2`` (or
    lower) or ``ONEDNN_MAX_CPU_ISA`` below ``AVX512_CORE_BF16`` the answer is False, so an AVX2-only
    machine can be approximated on a newer CPU (bf16 would be emulated there).
    """
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if isa not in ("ALL", "DEFAULT") and not (isa.startswith("AVX512_CORE_BF16") or "AMX" in isa):
        return False
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn "auto" into "fp32" / "bf16" / "fp16" for ``device``; validate explicit choices.

    Raises:
        ConfigError: fp16 requested on a non-CUDA device, or an unknown name.
    """
    if precision == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision='fp16' needs a CUDA device; use 'bf16' or 'fp32' on CPU")
    if precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    return precision


def resolve_channels_last(
    flag: bool | None, precision: str, device: torch.device, model: nn.Module
) -> bool:
    """channels_last on by default for conv models on CUDA or with bf16 on CPU."""
    if flag is not None:
        return flag
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return has_conv and (device.type == "cuda" or precision == "bf16")


def autocast_factory(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A zero-argument callable giving the run's autocast context (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def attack_autocast_dtype(
    choice: bool | str, precision: str, device: torch.device
) -> torch.dtype | None:
    """The autocast dtype of a training attack, or None for fp32.

    Args:
        choice: A method's ``attack_autocast`` option: "auto" (follow the run: low precision
            only when ``precision`` is "bf16" or "fp16"), True (always low precision) or False
            (always fp32, the attack as in the reference code).
        precision: The run's resolved precision ("fp32", "bf16" or "fp16").
        device: The run's device.

    Returns:
        ``torch.bfloat16`` on CPU; on CUDA bf16 where the GPU supports it, else fp16 for an
        explicit True and None (fp32) for "auto"; None when the attack runs in fp32.

    Raises:
        ConfigError: ``choice`` is not "auto", True or False.
    """
    if not isinstance(choice, bool) and choice != "auto":
        raise ConfigError(f"attack_autocast must be 'auto', True or False, got {choice!r}")
    if choice is False or (choice == "auto" and precision == "fp32"):
        return None
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if choice is True else None
    return torch.bfloat16


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
