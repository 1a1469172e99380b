"""Training-engine speed and fidelity: the engine's defaults vs a plain fp32 PyTorch loop.

Model MNISTNet (TRADES' SmallCNN), Fashion-MNIST, batch 128, SGD(lr 0.01, momentum 0.9), CPU.
Everything runs side by side in one process; the plain loops use the engine's data order
(``epoch_generator(seed, epoch)``) and initialisation (``torch.manual_seed(seed)`` before
``models.build``), so in fp32 only the speed differs.

* ``natural`` / ``trades_step``: images/s of the plain fp32 loop and of ``train()`` with its
  defaults (precision "auto", channels_last None, training attack ``attack_autocast="auto"``),
  in ``rounds`` interleaved rounds (plain, engine, plain, engine...) so that other jobs on a
  shared machine slow both alike; the speedup is the median of the per-round ratios. TRADES step
  (Zhang et al. 2019, eq. 5; yaodongyu/TRADES): KL attack in eval mode from x + 0.001 N(0, 1),
  10 sign steps of 0.01 in the Linf ball of 0.1, then CE(f(x)) + 6 KL(f(x) || f(x')) in train
  mode. Goals: natural >= 2x, TRADES >= 1.8x where the CPU has native bf16.
* ``trades_short_run``: a fixed short TRADES run (``n_train`` images, ``epochs``, lr 0.05) by the
  plain fp32 loop and by the engine's default, both evaluated with the same seeded PGD-20
  (eps 0.1, step 0.01, fp32) on the same test images. Goal: robust accuracies within 1 point.
* On CPUs without native bf16 (where "auto" is fp32) ``trades_step`` also times other knobs, each
  against the same plain loop: ``engine_fp32_channels_last`` and ``engine_one_clean_forward``
  (``second_clean_forward=False``: one clean forward instead of the reference's two, so the KL
  target sees the first forward's dropout mask: opt-in, not the default).

The JSON names the CPU kind (native bf16 or not, the ATen capability, ``ONEDNN_MAX_CPU_ISA``),
the thread count and the load average before and after (other jobs inflate both timings).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.data import load
from robustlab.core.data.batches import epoch_generator
from robustlab.core.models import build
from robustlab.core.train import TrainConfig, train
from robustlab.core.train.evaluate import accuracy
from robustlab.core.train.precision import cpu_has_fast_bf16

CPU = torch.device("cpu")
BATCH, LR, MOMENTUM, SEED = 128, 0.01, 0.9, 0
SHORT_RUN_LR = 0.05  # the short TRADES run learns enough in 2 epochs for a robust accuracy
TRADES = {"eps": 0.1, "alpha": 0.01, "steps": 10, "beta": 6.0}


def cpu_info() -> dict[str, Any]:
    """The CPU kind and the threads the figures were measured with."""
    fast = cpu_has_fast_bf16()
    return {
        "cpu_kind": "native bf16 (AMX / AVX512-BF16)" if fast else "no native bf16 (bf16 emulated)",
        "cpu_fast_bf16": fast,
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


# ---------------------------------------------------------------------- plain fp32 loops
def _plain_model(lr: float) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(SEED)
    model = build("mnistnet", num_classes=10, in_channels=1)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)


def _kl(adv_logits: Tensor, clean_probs: Tensor, reduction: str) -> Tensor:
    return F.kl_div(F.log_softmax(adv_logits, 1), clean_probs, reduction=reduction)


def _trades_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    eps, alpha, beta = TRADES["eps"], TRADES["alpha"], TRADES["beta"]
    model.eval()
    with torch.no_grad():
        p_clean = F.softmax(model(x), 1)
    x_adv = x + 0.001 * torch.randn_like(x)
    for _ in range(int(TRADES["steps"])):
        x_adv.requires_grad_(True)
        (g,) = torch.autograd.grad(_kl(model(x_adv), p_clean, "sum"), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), x - eps), x + eps)
        x_adv = x_adv.clamp(0.0, 1.0)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y) + beta * _kl(
        model(x_adv), F.softmax(model(x), 1), "batchmean"
    )
    opt.zero_grad()
    loss.backward()
    opt.step()


def plain_run(
    method: str, x: Tensor, y: Tensor, epochs: int, lr: float = LR
) -> tuple[nn.Module, float]:
    """Train MNISTNet with a plain fp32 loop ("natural" or "trades"); (model, images/s)."""
    model, opt = _plain_model(lr)
    n, seconds = len(y), 0.0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=epoch_generator(SEED, epoch))
        model.train()
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            idx = order[i : i + BATCH]
            if method == "trades":
                _trades_step(model, opt, x[idx], y[idx])
            else:
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        seconds += time.perf_counter() - start
    return model.eval(), n * epochs / seconds


def engine_run(
    run_dir: Path, method: str, n_train: int, epochs: int, lr: float = LR, **kw: Any
) -> tuple[nn.Module, dict[str, Any]]:
    """``train()`` with its defaults on the same data; (model, speed and precision facts)."""
    opts = dict(TRADES) if method == "trades" else {}
    opts.update(kw.pop("method_opts", {}))
    cfg = TrainConfig(
        dataset="fashion-mnist", model="mnistnet", method=method, method_opts=opts,
        n_train=n_train, n_test=100, epochs=epochs, batch_size=BATCH, lr=lr, momentum=MOMENTUM,
        augment=False, seed=SEED, **kw,
    )  # fmt: skip
    result = train(cfg, run_dir, device="cpu", progress=False)
    m = result.metrics
    facts = {"img_per_s": m["img_per_s"], "precision": m["precision"]}
    facts["channels_last"] = m["channels_last"]
    return result.model.to(memory_format=torch.contiguous_format), facts


# ---------------------------------------------------------------------- measurements
def interleaved(
    root: Path, method: str, n: int, rounds: int, variants: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Alternate the plain loop and each engine variant on the first ``n`` training images."""
    tr = load("fashion-mnist", "train", n=n)
    plain: list[float] = []
    eng: dict[str, list[float]] = {k: [] for k in variants}
    facts: dict[str, Any] = {}
    for r in range(rounds):
        plain.append(plain_run(method, tr.x, tr.y, 1)[1])
        for name, kw in variants.items():
            _, f = engine_run(root / f"{method}-{name}-{r}", method, n, 1, **kw)
            eng[name].append(f.pop("img_per_s"))
            facts[name] = f
    out: dict[str, Any] = {"images_per_round": n, "rounds": rounds, "plain_fp32_img_per_s": plain}
    for name in variants:
        ratios = [e / p for e, p in zip(eng[name], plain)]
        out[name] = {"img_per_s": eng[name], **facts[name], "ratios": ratios}
        out[name]["speedup"] = statistics.median(ratios)
    return out


def short_trades_run(root: Path, n_train: int, epochs: int, n_eval: int) -> dict[str, Any]:
    """Plain fp32 TRADES vs the engine's default TRADES: robust accuracy under the same PGD."""
    tr, te = load("fashion-mnist", "train", n=n_train), load("fashion-mnist", "test", n=n_eval)
    pgd = ATTACKS.build("pgd", eps=TRADES["eps"], alpha=0.01, steps=20, seed=0)
    out: dict[str, Any] = {
        "n_train": n_train,
        "epochs": epochs,
        "lr": SHORT_RUN_LR,
        "eval": f"PGD-20 Linf eps {TRADES['eps']}, step 0.01, seeded uniform start, fp32; "
        f"first {n_eval} test images",
    }
    plain_model, plain_speed = plain_run("trades", tr.x, tr.y, epochs, SHORT_RUN_LR)
    eng_model, facts = engine_run(root / "short", "trades", n_train, epochs, SHORT_RUN_LR)
    for name, model, extra in (
        ("plain_fp32", plain_model, {"img_per_s": plain_speed}),
        ("engine_default", eng_model, facts),
    ):
        out[name] = {
            "clean_acc": accuracy(model, te.x, te.y, device=CPU),
            "robust_acc": accuracy(model, te.x, te.y, device=CPU, attack=pgd),
            **extra,
        }
    out["robust_acc_delta"] = out["engine_default"]["robust_acc"] - out["plain_fp32"]["robust_acc"]
    out["clean_acc_delta"] = out["engine_default"]["clean_acc"] - out["plain_fp32"]["clean_acc"]
    out["speedup"] = out["engine_default"]["img_per_s"] / plain_speed
    out["goal"] = "|robust_acc_delta| <= 1 point"
    return out


def run(quick: bool) -> dict[str, Any]:
    """The benchmark (``python -m bench train``); ``quick`` shrinks every size for a smoke run."""
    rounds = 1 if quick else 3
    n_nat, n_trades = (512, 256) if quick else (2048, 512)
    short = (512, 1, 200) if quick else (4096, 2, 1000)
    out: dict[str, Any] = {"quick": quick, **cpu_info(), "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nat = interleaved(root, "natural", n_nat, rounds, {"engine_default": {}})
        nat["speedup_default"] = nat["engine_default"]["speedup"]
        nat["goal"] = ">= 2.0x where the CPU has native bf16"
        out["natural"] = nat
        variants: dict[str, dict[str, Any]] = {"engine_default": {}}
        if not out["cpu_fast_bf16"]:
            variants["engine_fp32_channels_last"] = {"channels_last": True}
            variants["engine_one_clean_forward"] = {"method_opts": {"second_clean_forward": False}}
        tr = interleaved(root, "trades", n_trades, rounds, variants)
        tr["speedup_default"] = tr["engine_default"]["speedup"]
        tr["goal"] = ">= 1.8x where the CPU has native bf16; fp32 (auto) elsewhere"
        out["trades_step"] = tr
        out["trades_short_run"] = short_trades_run(root, *short)
    out["load_avg_after"] = os.getloadavg()
    return out
