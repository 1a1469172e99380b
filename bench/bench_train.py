"""Training-engine speed and fidelity: the engine's defaults vs a plain fp32 PyTorch loop.

Model MNISTNet (TRADES' SmallCNN), Fashion-MNIST, batch 128, SGD(lr 0.01, momentum 0.9), CPU.
Everything runs side by side in one process. The plain loops use the engine's data order
(``epoch_generator(seed, epoch)``), initialisation (``torch.manual_seed(seed)`` before
``models.build``) and formulas, so that in fp32 they give the engine's weights bit for bit
(``fp32_mirror_bit_identical``, checked on every run): only the speed and the precision differ.

* ``natural`` / ``trades_step``: images/s of the plain fp32 loop and of ``train()`` with its
  defaults (precision "auto", channels_last None, training attack ``attack_autocast="auto"``),
  in ``rounds`` interleaved rounds (plain, engine, plain, engine...) so that other jobs on a
  shared machine slow both alike; the speedup is the median of the per-round ratios. TRADES step
  (Zhang et al. 2019, eq. 5; yaodongyu/TRADES): KL attack in eval mode from x + 0.001 N(0, 1),
  10 sign steps of 0.01 in the Linf ball of 0.1, then CE(f(x)) + 6 KL(f(x) || f(x')) in train
  mode. Goals: natural >= 2x, TRADES >= 1.8x where the CPU has native bf16.
* ``trades_short_run``: a fixed short TRADES run (4096 images, 2 epochs, lr 0.02) per seed, by
  the plain fp32 loop and by the engine's default, all evaluated with the same seeded PGD-20
  (eps 0.1, step 0.01, fp32) on the same 1000 test images. Goal: mean robust accuracies within
  1 point. The runs of a pair share initialisation, data order and dropout stream, but bf16
  rounding moves the trajectory, so a pair differs by about as much as seeds do
  (``plain_seed_spread`` gives the scale).
* On CPUs without native bf16 (where "auto" is fp32) ``trades_step`` also times other knobs, each
  against the same plain loop: ``engine_fp32_channels_last`` and ``engine_one_clean_forward``
  (``second_clean_forward=False``: one clean forward instead of the reference's two, so the KL
  target sees the first forward's dropout mask: opt-in, not the default).

The JSON names the CPU kind (native bf16 or not, the ATen capability, ``ONEDNN_MAX_CPU_ISA``),
the thread count and the load average before and after (other jobs inflate both timings; on an
oversubscribed machine run with ``OMP_NUM_THREADS=1``).
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
SHORT_RUN_LR = 0.02  # learns in 2 epochs, with paired runs close (0.05 is chaotic: fp32 runs
# that differ only in rounding end 4 points apart)
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
def _plain_model(lr: float, seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = build("mnistnet", num_classes=10, in_channels=1)
    return model, torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)


def _kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """Per-example KL(P || Q) (B,) of two logit batches (TRADES eq. 5; the engine's formula)."""
    log_p, log_q = F.log_softmax(p_logits, -1), F.log_softmax(q_logits, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def _trades_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    """One TRADES step as yaodongyu/TRADES (start clamped to [0, 1] like the engine's)."""
    eps, alpha, beta = TRADES["eps"], TRADES["alpha"], TRADES["beta"]
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    model.eval()
    with torch.no_grad():
        clean = model(x)
    x_adv = torch.min(torch.max(x + 0.001 * torch.randn_like(x), lo), hi)
    for _ in range(int(TRADES["steps"])):
        x_adv.requires_grad_(True)
        (g,) = torch.autograd.grad(_kl(clean, model(x_adv)).sum(), x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), lo), hi)
    model.train()
    logits = model(x)
    adv = model(x_adv)
    loss = F.cross_entropy(logits, y) + beta * _kl(model(x), adv).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def plain_run(
    method: str, x: Tensor, y: Tensor, epochs: int, lr: float = LR, seed: int = SEED
) -> tuple[nn.Module, float]:
    """Train MNISTNet with a plain fp32 loop ("natural" or "trades"); (model, images/s)."""
    model, opt = _plain_model(lr, seed)
    n, seconds = len(y), 0.0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=epoch_generator(seed, epoch))
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
    run_dir: Path,
    method: str,
    n_train: int,
    epochs: int,
    lr: float = LR,
    seed: int = SEED,
    **kw: Any,
) -> tuple[nn.Module, dict[str, Any]]:
    """``train()`` with its defaults on the same data; (model, speed and precision facts)."""
    opts = dict(TRADES) if method == "trades" else {}
    opts.update(kw.pop("method_opts", {}))
    cfg = TrainConfig(
        dataset="fashion-mnist", model="mnistnet", method=method, method_opts=opts,
        n_train=n_train, n_test=100, epochs=epochs, batch_size=BATCH, lr=lr, momentum=MOMENTUM,
        augment=False, seed=seed, **kw,
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


def fp32_mirror_check(root: Path, n: int = 384) -> dict[str, bool]:
    """The plain loops and ``train(precision="fp32")`` give the same weights bit for bit (2
    epochs on ``n`` images): any gap in ``trades_short_run`` then comes from the precision."""
    tr = load("fashion-mnist", "train", n=n)
    out = {}
    for method in ("natural", "trades"):
        plain, _ = plain_run(method, tr.x, tr.y, 2, SHORT_RUN_LR)
        eng, _ = engine_run(root / f"mirror-{method}", method, n, 2, SHORT_RUN_LR, precision="fp32")
        pairs = zip(plain.state_dict().values(), eng.state_dict().values())
        out[method] = all(torch.equal(a, b) for a, b in pairs)
    return out


def short_trades_run(
    root: Path, n_train: int, epochs: int, n_eval: int, seeds: tuple[int, ...]
) -> dict[str, Any]:
    """Plain fp32 TRADES vs the engine's default TRADES, per seed (same initialisation, data
    order and dropout stream in each pair): robust accuracy under the same PGD, paired deltas."""
    tr, te = load("fashion-mnist", "train", n=n_train), load("fashion-mnist", "test", n=n_eval)
    pgd = ATTACKS.build("pgd", eps=TRADES["eps"], alpha=0.01, steps=20, seed=0)
    runs: dict[str, dict[str, list[Any]]] = {"plain_fp32": {}, "engine_default": {}}
    facts: dict[str, Any] = {}
    for seed in seeds:
        plain, plain_speed = plain_run("trades", tr.x, tr.y, epochs, SHORT_RUN_LR, seed)
        eng, facts = engine_run(
            root / f"short-{seed}", "trades", n_train, epochs, SHORT_RUN_LR, seed
        )
        for name, model, speed in (
            ("plain_fp32", plain, plain_speed),
            ("engine_default", eng, facts.pop("img_per_s")),
        ):
            r = runs[name]
            r.setdefault("clean_acc", []).append(accuracy(model, te.x, te.y, device=CPU))
            robust = accuracy(model, te.x, te.y, device=CPU, attack=pgd)
            r.setdefault("robust_acc", []).append(robust)
            r.setdefault("img_per_s", []).append(speed)
    plain_r, eng_r = runs["plain_fp32"]["robust_acc"], runs["engine_default"]["robust_acc"]
    deltas = [e - p for e, p in zip(eng_r, plain_r)]
    out: dict[str, Any] = {
        "n_train": n_train,
        "epochs": epochs,
        "lr": SHORT_RUN_LR,
        "seeds": list(seeds),
        "eval": f"PGD-20 Linf eps {TRADES['eps']}, step 0.01, seeded uniform start, fp32; "
        f"first {n_eval} test images",
        "plain_fp32": runs["plain_fp32"],
        "engine_default": {**runs["engine_default"], **facts},
        "robust_acc_mean": {
            "plain_fp32": statistics.mean(plain_r),
            "engine_default": statistics.mean(eng_r),
        },
        "robust_acc_deltas": deltas,
        "robust_acc_delta_mean": statistics.mean(deltas),
        "plain_seed_spread": max(plain_r) - min(plain_r),
        "speedup": statistics.mean(runs["engine_default"]["img_per_s"])
        / statistics.mean(runs["plain_fp32"]["img_per_s"]),
        "goal": "|robust_acc_delta_mean| <= 1 point",
    }
    return out


def run(quick: bool) -> dict[str, Any]:
    """The benchmark (``python -m bench train``); ``quick`` shrinks every size for a smoke run."""
    rounds = 1 if quick else 3
    n_nat, n_trades = (512, 256) if quick else (2048, 512)
    short = (512, 1, 200, (0,)) if quick else (4096, 2, 1000, (0, 1, 2))
    out: dict[str, Any] = {"quick": quick, **cpu_info(), "load_avg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out["fp32_mirror_bit_identical"] = fp32_mirror_check(root)
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
