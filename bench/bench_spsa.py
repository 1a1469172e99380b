"""SPSA's cost with and without early stop, at PC-loss Table 3's setting, on LeNet-5 / Fashion-MNIST.

SPSA (Uesato et al. 2018) is the costliest attack of the PC-loss reproduction: each example and
step costs ``2 * samples`` forward passes (Table 3: eps 0.3, 10 steps, 128 samples, lr 0.01,
delta 0.01). Same model as ``bench_attacks`` (LeNet-5, one epoch of Adam on 10k training images),
same clean-correct test images, measured side by side in one process:

* ``spsa_last_iterate``: ``SPSA(early_stop=False)``, advertorch's semantics: every example runs
  all steps and is scored on its last iterate;
* ``spsa_early_stop``: ``SPSA(early_stop=True)`` (what the pcloss suites use): an example
  misclassified before a step keeps that iterate and leaves the batch.

Reports seconds, images/s, robust accuracy (percent of all images), forward rows (work that other
jobs cannot disturb), their ratios, and how many examples the two variants score differently.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from bench.bench_attacks import _RowCounter, _train_lenet
from robustlab.core.attacks import SPSA
from robustlab.core.data import load

SETTING = {"eps": 0.3, "steps": 10, "lr": 0.01, "delta": 0.01}


def run(quick: bool) -> dict[str, Any]:
    """Benchmark; ``quick`` uses 200 images and 32 samples. Returns a JSON-serialisable dict."""
    n_test, bs, samples = (200, 200, 32) if quick else (1000, 250, 128)
    model = _train_lenet(2_000 if quick else 10_000)
    test = load("fashion-mnist", "test", n=n_test)
    with torch.no_grad():
        correct = model(test.x).argmax(1) == test.y
    x, y = test.x[correct], test.y[correct]
    out: dict[str, Any] = {"seconds": {}, "robust_acc": {}, "forward_rows": {}, "img_per_s": {}}
    robust: dict[str, torch.Tensor] = {}
    for name, early_stop in (("spsa_last_iterate", False), ("spsa_early_stop", True)):
        counter = _RowCounter(model)
        flags = []
        start = time.perf_counter()
        for b, lo in enumerate(range(0, len(x), bs)):
            xb, yb = x[lo : lo + bs], y[lo : lo + bs]
            attack = SPSA(**SETTING, samples=samples, seed=b, early_stop=early_stop)
            with torch.no_grad():
                flags.append(model(attack(model, xb, yb)).argmax(1) == yb)
        seconds = time.perf_counter() - start
        counter.handle.remove()
        robust[name] = torch.cat(flags)
        out["seconds"][name] = round(seconds, 2)
        out["img_per_s"][name] = round(n_test / seconds, 1)
        out["robust_acc"][name] = round(100.0 * float(robust[name].sum()) / n_test, 2)
        out["forward_rows"][name] = counter.nograd
    last, es = robust["spsa_last_iterate"], robust["spsa_early_stop"]
    return {
        "setup": {
            "model": "lenet5 (1 epoch Adam on fashion-mnist train)",
            "n": n_test,
            "clean_correct": len(y),
            "batch_size": bs,
            "samples": samples,
            **SETTING,
            "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
        **out,
        "speedup_early_stop": round(
            out["seconds"]["spsa_last_iterate"] / out["seconds"]["spsa_early_stop"], 3
        ),
        "work_ratio_early_stop": round(
            out["forward_rows"]["spsa_last_iterate"] / out["forward_rows"]["spsa_early_stop"], 3
        ),
        "robust_acc_delta": round(
            out["robust_acc"]["spsa_early_stop"] - out["robust_acc"]["spsa_last_iterate"], 2
        ),
        "examples_scored_differently": {
            "robust_last_iterate_only": int((last & ~es).sum()),
            "robust_early_stop_only": int((es & ~last).sum()),
        },
    }
