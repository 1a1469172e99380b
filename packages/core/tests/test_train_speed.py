"""Training-speed defaults (issue 18): the training attacks follow the run's precision.

* In a bf16 run the inner maximisation of every adversarial method runs under bf16 autocast (a
  forward hook on the model's first convolution records the dtype of its output while the method's
  ``generate`` runs); ``attack_autocast=False`` keeps it in fp32; validation attacks stay fp32.
* fp32 runs are unchanged: the default (``attack_autocast="auto"``) gives the same weights bit for
  bit as the fp32 attack (``attack_autocast=False``), and, where the environment matches, the same
  weights as the code before the change (SHA-256 prefixes recorded at commit e7653d7).

Speed itself is measured by ``python -m bench train``, never here.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.models import build
from robustlab.core.train import METHODS, StepContext, TrainConfig, TrainContext, train
from robustlab.core.train.precision import attack_autocast_dtype, autocast_factory

ADV = {"eps": 0.1, "alpha": 0.05, "steps": 2}
CASES: dict[str, dict[str, Any]] = {
    "natural": {},
    "madry-at": ADV,
    "trades": {**ADV, "beta": 1.0},
    "mart": ADV,
    "fast-at": {"eps": 0.1},
    "free-at": {"eps": 0.1, "m": 2},
    "awp-at": {**ADV, "warmup": 0},
    "awp-trades": {**ADV, "beta": 1.0, "warmup": 0},
    "lbgat": {**ADV, "guide_model": "lenet5", "beta": 1.0},
}
ATTACKING = [m for m in CASES if m not in ("natural", "free-at")]  # methods with an attack object
BASE: dict[str, Any] = dict(
    dataset="digits-28",
    model="lenet5",
    n_train=64,
    n_test=32,
    batch_size=32,
    lr=0.05,
    precision="fp32",
    seed=3,
    epochs=1,
)

# SHA-256 (first 16 hex digits) of model.safetensors' tensors after the BASE run of each method,
# recorded with the code of commit e7653d7 (before the attacks followed the run's precision) on
# an Intel Xeon with AMX, one thread; key: (torch, ATen CPU capability, ONEDNN_MAX_CPU_ISA, CPU
# vendor). The same capability on another vendor's CPU runs other oneDNN kernels (other bits): the
# AuthenticAMD entry was recorded on an AMD EPYC with AVX512-BF16 at commit 3007201, whose
# training code is that of 7062f06 (which matched the GenuineIntel entries).
RECORDED: dict[tuple[str, str, str, str], dict[str, str]] = {
    ("2.14.1+cu130", "AVX512", "ALL", "AuthenticAMD"): {
        "natural": "0afb341441961d0b",
        "madry-at": "cfb78536e114fb48",
        "trades": "fa2565680cd75e18",
        "mart": "5375fe9adb55d322",
        "fast-at": "328985f1460c6356",
        "free-at": "2ba0ebead454cc00",
        "awp-at": "6505ee2157ef498d",
        "awp-trades": "bd9eaefa19ce7fb2",
        "lbgat": "a30994ff0eba9259",
    },
    ("2.14.1+cu130", "AVX512", "ALL", "GenuineIntel"): {
        "natural": "8c1129ae94c3dfe3",
        "madry-at": "8ce86f6bc31e4543",
        "trades": "19f7860a32d8ec9d",
        "mart": "13c0743211dbfbea",
        "fast-at": "3eab55f379a8c551",
        "free-at": "89dda55fa880271a",
        "awp-at": "907cbcd27180f6df",
        "awp-trades": "a2c615f593fdc5a7",
        "lbgat": "a5b344b149e705bb",
    },
    ("2.14.1+cu130", "AVX2", "ALL", "GenuineIntel"): {
        "natural": "7c9644f2205ced88",
        "madry-at": "937d42039fb30295",
        "trades": "60fd8ba7ce1a640f",
        "mart": "5417d4b2e8f79ca1",
        "fast-at": "81a9b27c932e527f",
        "free-at": "920b1e11dfc12b61",
        "awp-at": "fbb80625bfc1cac6",
        "awp-trades": "899bef5ffc000462",
        "lbgat": "327231fc2193fb81",
    },
    ("2.14.1+cu130", "AVX2", "AVX2", "GenuineIntel"): {
        "natural": "ee023dcba5bebd58",
        "madry-at": "13f5e531259951fc",
        "trades": "fab02ce5f841fec9",
        "mart": "46645b2d3b6eed4b",
        "fast-at": "2f0d859249293ab4",
        "free-at": "8393f5dd9dd71640",
        "awp-at": "52b11314c6e5d799",
        "awp-trades": "2f5866c1b12616c6",
        "lbgat": "de1f5fe596fd1594",
    },
}


@pytest.fixture
def one_thread() -> Iterator[None]:
    """fp32 results depend on the thread count (reduction order): run on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cpu_vendor() -> str:
    """``vendor_id`` of /proc/cpuinfo (GenuineIntel, AuthenticAMD), or "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _environment() -> tuple[str, str, str, str]:
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return torch.__version__, torch.backends.cpu.get_cpu_capability(), isa, _cpu_vendor()


def _weights_digest(run_dir: Path) -> str:
    weights = load_file(str(run_dir / "model.safetensors"))
    h = hashlib.sha256()
    for k in sorted(weights):
        h.update(k.encode())
        h.update(weights[k].contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _run(tmp_path: Path, name: str, **opts: Any) -> str:
    cfg = TrainConfig.from_dict({**BASE, "method": name, "method_opts": {**CASES[name], **opts}})
    run_dir = tmp_path / f"{name}-{len(list(tmp_path.iterdir()))}"
    train(cfg, run_dir, device="cpu", progress=False)
    return _weights_digest(run_dir)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", ATTACKING)
def test_fp32_default_is_bit_identical_to_the_fp32_attack(tmp_path: Path, name: str) -> None:
    assert _run(tmp_path, name) == _run(tmp_path, name, attack_autocast=False)


@pytest.mark.usefixtures("one_thread")
def test_fp32_runs_match_the_weights_recorded_before_the_change(tmp_path: Path) -> None:
    recorded = RECORDED.get(_environment())
    if recorded is None:
        pytest.skip(f"no recording for {_environment()} (recorded: {sorted(RECORDED)})")
    got = {name: _run(tmp_path, name) for name in CASES}
    assert got == recorded


# ---------------------------------------------------------------------- the attack's precision
def _first_conv(model: nn.Module) -> nn.Module:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def _step_dtypes(
    name: str, precision: str, **opts: Any
) -> tuple[list[torch.dtype], list[torch.dtype], Any]:
    """One loss step of ``name`` under ``precision``: dtypes of the first conv's outputs inside
    the method's ``generate`` (the attack) and outside it (the training forwards)."""
    torch.manual_seed(0)
    model = build("lenet5", num_classes=10, in_channels=1).train()
    device = torch.device("cpu")
    autocast = autocast_factory(precision, device)
    tctx = TrainContext(None, device, 10, 1, (28, 28), 1, 2, precision, autocast)
    method = METHODS.build(name, **{**CASES[name], **opts})
    method.setup(model, tctx)
    inside: list[bool] = [False]
    attack_dtypes: list[torch.dtype] = []
    train_dtypes: list[torch.dtype] = []

    def hook(module: nn.Module, args: Any, out: torch.Tensor) -> None:
        (attack_dtypes if inside[0] else train_dtypes).append(out.dtype)

    generate = method.generate

    def tracked(*args: Any, **kw: Any) -> torch.Tensor:
        inside[0] = True
        try:
            return generate(*args, **kw)
        finally:
            inside[0] = False

    method.generate = tracked
    _first_conv(model).register_forward_hook(hook)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 28, 28, generator=g), torch.randint(0, 10, (8,), generator=g)
    with autocast():
        out = method.loss(model, x, y, StepContext(0, 0, 0, 0, 0.05, tctx))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    return attack_dtypes, train_dtypes, method


@pytest.mark.parametrize("name", ATTACKING)
def test_training_attack_runs_in_bf16_in_a_bf16_run(name: str) -> None:
    attack, training, method = _step_dtypes(name, "bf16")
    assert attack, f"{name}: the attack did not run through generate()"
    assert set(attack) == {torch.bfloat16}
    assert set(training) == {torch.bfloat16}
    assert method.val_attack().autocast is False  # evaluation attacks stay fp32


@pytest.mark.parametrize("name", ["trades", "madry-at", "awp-trades", "lbgat"])
def test_fp16_run_crafts_in_bf16_without_sharing_weight_casts(name: str) -> None:
    """An fp16 run (CUDA's default; simulated here with CPU fp16 autocast) crafts x' in bf16
    (no underflow of fp16 input gradients); the autocast weight-cast cache must not hand the
    attack's bf16 weight copies to the fp16 training forwards (a dtype-mismatch error)."""
    attack, training, _ = _step_dtypes(name, "fp16")
    assert set(attack) == {torch.bfloat16}
    assert set(training) == {torch.float16}


@pytest.mark.parametrize("name", ["trades", "madry-at"])
def test_attack_precision_can_be_pinned(name: str) -> None:
    attack, training, _ = _step_dtypes(name, "bf16", attack_autocast=False)
    assert set(attack) == {torch.float32} and set(training) == {torch.bfloat16}
    attack, training, method = _step_dtypes(name, "fp32", attack_autocast=True)
    assert set(attack) == {torch.bfloat16} and set(training) == {torch.float32}
    assert method.val_attack().autocast is True  # an explicit True covers validation too
    attack, training, _ = _step_dtypes(name, "fp32")
    assert set(attack) == set(training) == {torch.float32}


def test_attack_autocast_dtype_resolution() -> None:
    cpu = torch.device("cpu")
    assert attack_autocast_dtype("auto", "fp32", cpu) is None
    assert attack_autocast_dtype("auto", "bf16", cpu) is torch.bfloat16
    assert attack_autocast_dtype(True, "fp32", cpu) is torch.bfloat16
    assert attack_autocast_dtype(False, "bf16", cpu) is None
    with pytest.raises(ConfigError, match="attack_autocast"):
        attack_autocast_dtype("yes", "bf16", cpu)
    with pytest.raises(ConfigError, match="attack_autocast must be 'auto', True or False"):
        METHODS.build("trades", attack_autocast=1)
    assert METHODS.build("madry-at").options()["attack_autocast"] == "auto"
