"""`precision="auto"` honours the ISA caps that make a newer CPU behave like an AVX2-only one."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from robustlab.core.errors import ConfigError
from robustlab.core.train.precision import resolve_precision

PROBE = "from robustlab.core.train.precision import cpu_has_fast_bf16 as f; print(f())"


def _probe(env: dict[str, str]) -> str:
    import os

    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_avx2_caps_turn_auto_into_fp32() -> None:
    assert _probe({"ATEN_CPU_CAPABILITY": "avx2"}) == "False"
    assert _probe({"ONEDNN_MAX_CPU_ISA": "AVX2"}) == "False"


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() != "AVX512"
    or not torch.cpu._is_avx512_bf16_supported(),
    reason="needs a CPU with native bf16",
)
def test_native_bf16_cpu_without_caps() -> None:
    assert _probe({"ONEDNN_MAX_CPU_ISA": "ALL"}) == "True"
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"


def test_fp16_on_cpu_is_an_error() -> None:
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", torch.device("cpu"))
