"""Attack speed: robustlab PGD-20 vs torchattacks PGD-20 on LeNet-5 / Fashion-MNIST.

Same model (LeNet-5 trained one epoch on 10k training images with Adam), same 1000 test images,
same settings (Linf, eps 0.1, alpha 0.01, 20 steps, random start), same batch size, measured side
by side in one process; each variant is run ``repeats`` times interleaved and the best wall time is
kept (the machine is shared). Reports images/s, robust accuracy and the speed ratio. The robustlab
variant with ``early_stop=True`` (fooled examples are frozen and dropped from later forwards) is
reported separately: it is a different, never weaker, attack schedule, off by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks import PGD
from robustlab.core.data import load
from robustlab.core.models import build

EPS, ALPHA, STEPS = 0.1, 0.01, 20


def _train_lenet(n_train: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    data = load("fashion-mnist", "train", n=n_train)
    model = build("lenet5", num_classes=10, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    order = torch.randperm(len(data.x))
    for start in range(0, len(order), 100):
        idx = order[start : start + 100]
        loss = nn.functional.cross_entropy(model(data.x[idx]), data.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.inference_mode():
        return round(100.0 * (model(x).argmax(1) == y).float().mean().item(), 2)


def _timed(
    attack: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int
) -> tuple[float, Tensor]:
    start = time.perf_counter()
    out = torch.cat(
        [attack(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )
    return time.perf_counter() - start, out


def run(quick: bool) -> dict[str, Any]:
    """Benchmark; ``quick`` uses 200 images and one repeat. Returns a JSON-serialisable dict."""
    import torchattacks

    n_test, repeats, batch_size = (200, 1, 200) if quick else (1000, 3, 250)
    model = _train_lenet(2_000 if quick else 10_000)
    test = load("fashion-mnist", "test", n=n_test)
    x, y = test.x, test.y
    ta = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    ours = PGD(eps=EPS, alpha=ALPHA, steps=STEPS, seed=0)
    ours_es = PGD(eps=EPS, alpha=ALPHA, steps=STEPS, seed=0, early_stop=True)
    variants: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "torchattacks": ta,
        "robustlab": lambda a, b: ours(model, a, b),
        "robustlab_early_stop": lambda a, b: ours_es(model, a, b),
    }
    best: dict[str, float] = {}
    acc: dict[str, float] = {}
    torch.manual_seed(0)
    _timed(variants["robustlab"], x[:batch_size], y[:batch_size], batch_size)  # warm-up
    for _ in range(repeats):
        for name, attack in variants.items():
            seconds, x_adv = _timed(attack, x, y, batch_size)
            best[name] = min(best.get(name, float("inf")), seconds)
            acc[name] = _accuracy(model, x_adv, y)
    ips = {name: round(n_test / s, 1) for name, s in best.items()}
    return {
        "setup": {
            "model": "lenet5 (1 epoch Adam on fashion-mnist train)",
            "dataset": "fashion-mnist test",
            "n": n_test,
            "batch_size": batch_size,
            "eps": EPS,
            "alpha": ALPHA,
            "steps": STEPS,
            "random_start": True,
            "repeats_best_of": repeats,
            "threads": torch.get_num_threads(),
        },
        "clean_acc": _accuracy(model, x, y),
        "img_per_s": ips,
        "robust_acc": acc,
        "ratio_vs_torchattacks": {
            name: round(v / ips["torchattacks"], 3)
            for name, v in ips.items()
            if name != "torchattacks"
        },
        "robust_acc_delta_vs_torchattacks": {
            name: round(v - acc["torchattacks"], 2)
            for name, v in acc.items()
            if name != "torchattacks"
        },
    }
