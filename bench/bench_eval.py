"""Overhead of the evaluation harness over a direct call of the official AutoAttack.

Same model (a small CNN trained here for a few seconds on scikit-learn's 8x8 digits), same data,
same attack: the official AutoAttack code (PyPI ``pyautoattack``) in a cheap custom version
(APGD-CE, 100 iterations, Linf eps 0.1 on 8x8 digits, seed 0). The direct call is
``AutoAttack.run_standard_evaluation`` on all examples; the harness call is ``evaluate`` with the
registered ``autoattack`` attack (robustlab's thin wrapper of the same official call) plus the
harness's batch bookkeeping, threat-model and logit checks (sanity checks off for the overhead;
timed separately with them on). Calls alternate
and the median of the repeats is reported. Goal: overhead <= 5 %.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from robustlab.core.eval import AttackSpec, SanityConfig, Suite, evaluate

EPS = 0.1


def _data_and_model() -> tuple[Tensor, Tensor, nn.Module]:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 64, 10)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(15):
        for i in range(0, 1000, 100):
            opt.zero_grad()
            F.cross_entropy(net(x[i : i + 100]), y[i : i + 100]).backward()
            opt.step()
    return x[1000:], y[1000:], net.eval()


def _official(model: nn.Module, eps: float) -> Any:
    from pyautoattack import AutoAttack

    aa = AutoAttack(model, attacks=["apgd-ce"], version="custom", eps=eps, seed=0, device="cpu")
    aa.verbose = False
    return aa


def _direct(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    start = time.perf_counter()
    x_adv = _official(model, EPS).run_standard_evaluation(x, y, batch_size=len(y))[0]
    with torch.no_grad():
        acc = 100.0 * int((model(x_adv).argmax(1) == y).sum()) / len(y)
    return time.perf_counter() - start, acc


def _harness(model: nn.Module, x: Tensor, y: Tensor, checks: bool) -> tuple[float, float]:
    kwargs = {"eps": EPS, "version": "custom", "attacks": ["apgd-ce"], "seed": 0}
    suite = Suite("aa-apgd-ce", [AttackSpec("APGD-CE", "autoattack", kwargs)])
    start = time.perf_counter()
    cfg = SanityConfig() if checks else False
    r = evaluate(model, (x, y), suite, batch_size=len(y), progress=False, checks=cfg)
    return time.perf_counter() - start, r.robust_acc["APGD-CE"]


def run(quick: bool) -> dict[str, Any]:
    logging.getLogger("auto-attack").setLevel(logging.WARNING)
    x, y, model = _data_and_model()
    n = 200 if quick else 400
    x, y = x[:n], y[:n]
    repeats = 3
    direct, harness = [], []
    for _ in range(repeats):
        direct.append(_direct(model, x, y))
        harness.append(_harness(model, x, y, checks=False))
    checked = _harness(model, x, y, checks=True)
    d = statistics.median(t for t, _ in direct)
    h = statistics.median(t for t, _ in harness)
    overhead = 100.0 * (h - d) / d
    return {
        "model": "conv32-fc (digits 8x8)",
        "attack": "official AutoAttack custom ['apgd-ce'] (5 restarts, 100 iterations), seed 0",
        "eps": EPS,
        "n": n,
        "repeats": repeats,
        "direct_s": round(d, 3),
        "harness_s": round(h, 3),
        "harness_with_checks_s": round(checked[0], 3),
        "overhead_pct": round(overhead, 2),
        "goal_overhead_pct": 5.0,
        "goal_met": overhead <= 5.0,
        "robust_acc_direct": direct[0][1],
        "robust_acc_harness": harness[0][1],
        "robust_acc_equal": direct[0][1] == harness[0][1],
        "direct_runs_s": [round(t, 3) for t, _ in direct],
        "harness_runs_s": [round(t, 3) for t, _ in harness],
    }
