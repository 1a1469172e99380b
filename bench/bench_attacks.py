"""Evaluation speed: ``robustlab.core.eval.evaluate`` (what ``robustlab eval`` and every reproduction
run) with PGD-20 vs torchattacks' PGD-20 on LeNet-5 / Fashion-MNIST.

Same model (LeNet-5 trained one epoch on 10k training images with Adam), same 1000 test images,
same settings (Linf, eps 0.1, alpha 0.01, 20 steps, random start), same batch size, measured side
by side in one process. The machine is shared, so each batch is run by every variant in turn,
``repeats`` times, and the best wall time per batch and variant is kept and summed over batches
(the best process CPU time likewise); the evaluation variants call ``evaluate`` per batch with
``batch_offset``, which gives exactly the seeds and results of one evaluation of all batches.
``forward_rows`` counts the examples through the model with and without autograd, and
``work_ratio_vs_torchattacks`` compares work as forward-backward rows plus a third of the
forward-only rows (a forward is about a third of a forward and backward on this model): figures
that other jobs cannot disturb. Variants:

* ``torchattacks``: ``torchattacks.PGD`` on every batch plus the forward pass that scores it (the
  least a robust-accuracy evaluation with torchattacks needs);
* ``eval_default``: ``evaluate(model, (x, y), suite)`` with its defaults: worst-case early stop
  (an example fooled at any iterate keeps that iterate and leaves the batch) and the sanity checks;
* ``eval_default_no_checks``: the same with ``checks=False``;
* ``eval_early_stop_off``: ``evaluate(..., early_stop=False)`` (every attacked example runs all 20
  steps, as before worst-case early stop became the default), checks on;
* ``attack_pgd``: robustlab's ``PGD`` called directly with ``early_stop=False`` (the semantics
  training loops use) plus the scoring forward.

Reports images/s, robust accuracy (percent of all images) and each ratio to torchattacks, and the
profile of one PGD step on one batch (milliseconds per part, see :func:`step_profile`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks import PGD
from robustlab.core.data import load
from robustlab.core.eval import AttackSpec, Suite, evaluate
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


def _suite() -> Suite:
    kwargs = {"eps": EPS, "alpha": ALPHA, "steps": STEPS, "random_start": True}
    return Suite("pgd20", [AttackSpec("PGD-20", "pgd", kwargs)])


def _robust(model: nn.Module, x_adv: Tensor, y: Tensor) -> int:
    with torch.no_grad():
        return int((model(x_adv).argmax(1) == y).sum())


Variant = Callable[[Tensor, Tensor, int], int]


def _variants(model: nn.Module) -> dict[str, Variant]:
    """name -> run(x_batch, y_batch, batch_index) -> robust examples of the batch.

    The evaluation variants call ``evaluate`` on one batch with ``batch_offset`` = its index, so
    their attack seeds (and results) are those of one evaluation of all batches; the sanity checks
    run with batch 0 only (they use the first 128 images of the data, as one evaluation would).
    """
    import torchattacks

    ta = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    plain = PGD(eps=EPS, alpha=ALPHA, steps=STEPS, seed=0)

    def ev(checks: bool, **kw: Any) -> Variant:
        def run(xb: Tensor, yb: Tensor, b: int) -> int:
            opts = {"batch_size": len(yb), "batch_offset": b, "checks": checks and b == 0}
            r = evaluate(model, (xb, yb), _suite(), progress=False, **opts, **kw)
            return sum(r.per_example["PGD-20"])

        return run

    return {
        "torchattacks": lambda xb, yb, _: _robust(model, ta(xb, yb), yb),
        "eval_default": ev(True),
        "eval_default_no_checks": ev(False),
        "eval_early_stop_off": ev(True, early_stop=False),
        "attack_pgd": lambda xb, yb, _: _robust(model, plain(model, xb, yb), yb),
    }


class _RowCounter:
    """Counts the rows of the model's forward passes: with autograd on (forward + backward) and
    off (forward only); a measure of work that does not depend on other jobs on the machine."""

    def __init__(self, model: nn.Module) -> None:
        self.grad = self.nograd = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, _m: nn.Module, inputs: Any, _out: Any) -> None:
        if torch.is_grad_enabled():
            self.grad += len(inputs[0])
        else:
            self.nograd += len(inputs[0])


def _measure(
    model: nn.Module, x: Tensor, y: Tensor, bs: int, repeats: int
) -> tuple[dict[str, float], dict[str, float], dict[str, int], dict[str, dict[str, int]]]:
    """Per batch, every variant ``repeats`` times interleaved; returns (sum over batches of the
    best wall seconds, the same for process CPU seconds, robust examples, forward rows)."""
    variants = _variants(model)
    wall = dict.fromkeys(variants, 0.0)
    cpu = dict.fromkeys(variants, 0.0)
    robust = dict.fromkeys(variants, 0)
    rows = {k: {"forward_backward": 0, "forward_only": 0} for k in variants}
    for b, lo in enumerate(range(0, len(x), bs)):
        xb, yb = x[lo : lo + bs], y[lo : lo + bs]
        best = dict.fromkeys(variants, float("inf"))
        best_cpu = dict.fromkeys(variants, float("inf"))
        for r in range(repeats):
            for name, fn in variants.items():
                counter = _RowCounter(model) if r == 0 else None
                start, start_cpu = time.perf_counter(), time.process_time()
                n_robust = fn(xb, yb, b)
                best[name] = min(best[name], time.perf_counter() - start)
                best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
                if counter is not None:
                    counter.handle.remove()
                    robust[name] += n_robust
                    rows[name]["forward_backward"] += counter.grad
                    rows[name]["forward_only"] += counter.nograd
        for name in variants:
            wall[name] += best[name]
            cpu[name] += best_cpu[name]
    return wall, cpu, robust, rows


class _ProfiledPGD(PGD):
    """robustlab's PGD with wall-clock timers around the parts of its step (same code path)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.t: dict[str, float] = dict.fromkeys(("forward", "grad", "step", "total"), 0.0)
        self.rows = 0

    def loss_and_grad(self, model: nn.Module, x_adv: Tensor, y: Tensor, ctx: dict[str, Any]):
        start = time.perf_counter()
        out = super().loss_and_grad(model, x_adv, y, ctx)
        self.t["grad"] += time.perf_counter() - start
        self.rows += len(x_adv)
        return out

    def _direction(self, grad: Tensor, momentum: Tensor | None) -> Tensor:
        start = time.perf_counter()
        out = super()._direction(grad, momentum)
        self.t["step"] += time.perf_counter() - start
        return out

    def _step(self, x_adv: Tensor, x: Tensor, direction: Tensor, bounds: tuple[Tensor, Tensor]):
        start = time.perf_counter()
        out = super()._step(x_adv, x, direction, bounds)
        self.t["step"] += time.perf_counter() - start
        return out


def step_profile(model: nn.Module, x: Tensor, y: Tensor, repeats: int) -> dict[str, Any]:
    """Milliseconds per PGD step on one batch ``x`` (B, C, H, W), best of ``repeats`` runs.

    Parts: ``forward`` (the model on the iterate, timed by forward hooks), ``backward`` (loss and
    ``torch.autograd.grad`` w.r.t. the input only), ``sign_projection_clamp`` (sign, step and the
    in-place clamp to the eps-box), ``bookkeeping`` (everything else: leaf creation, the
    fooled check and row compaction of early stop, loop overhead). ``early_stop_on`` is the
    per-step average of the same attack with early stop, which runs on a shrinking batch.
    """
    t_fwd = [0.0]
    start_fwd = [0.0]
    pre = model.register_forward_pre_hook(lambda *_: start_fwd.__setitem__(0, time.perf_counter()))
    post = model.register_forward_hook(
        lambda *_: t_fwd.__setitem__(0, t_fwd[0] + time.perf_counter() - start_fwd[0])
    )
    out: dict[str, Any] = {"batch_size": len(x), "steps": STEPS}
    try:
        for label, es in (("early_stop_off", False), ("early_stop_on", True)):
            best: dict[str, float] | None = None
            for _ in range(repeats):
                attack = _ProfiledPGD(eps=EPS, alpha=ALPHA, steps=STEPS, seed=0, early_stop=es)
                t_fwd[0] = 0.0
                logits = model(x).detach()  # the caller's clean pass, as the harness passes it
                t_fwd[0] = 0.0
                start = time.perf_counter()
                attack(model, x, y, logits_clean=logits)
                total = time.perf_counter() - start
                part = {
                    "forward": t_fwd[0],
                    "backward": attack.t["grad"] - t_fwd[0],
                    "sign_projection_clamp": attack.t["step"],
                }
                part["bookkeeping"] = total - sum(part.values())
                part["total"] = total
                part = {k: 1e3 * v / STEPS for k, v in part.items()}
                part["rows_per_step"] = attack.rows / STEPS
                if best is None or part["total"] < best["total"]:
                    best = part
            out[label] = {k: round(v, 3) for k, v in (best or {}).items()}
    finally:
        pre.remove()
        post.remove()
    return out


def _torchattacks_step_ms(model: nn.Module, x: Tensor, y: Tensor, repeats: int) -> float:
    import torchattacks

    ta = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=STEPS, random_start=True)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ta(x, y)
        best = min(best, time.perf_counter() - start)
    return round(1e3 * best / STEPS, 3)


def run(quick: bool) -> dict[str, Any]:
    """Benchmark; ``quick`` uses 200 images and one repeat. Returns a JSON-serialisable dict."""
    n_test, repeats, bs = (200, 1, 200) if quick else (1000, 5, 250)
    model = _train_lenet(2_000 if quick else 10_000)
    test = load("fashion-mnist", "test", n=n_test)
    x, y = test.x, test.y
    torch.manual_seed(0)
    PGD(eps=EPS, steps=2)(model, x[:bs], y[:bs])  # warm-up
    wall, cpu, robust, rows = _measure(model, x, y, bs, repeats)
    ips = {name: round(n_test / sec, 1) for name, sec in wall.items()}
    acc = {name: round(100.0 * k / n_test, 2) for name, k in robust.items()}
    work = {name: r["forward_backward"] + r["forward_only"] / 3 for name, r in rows.items()}
    profile = step_profile(model, x[:bs], y[:bs], repeats)
    profile["torchattacks_total"] = _torchattacks_step_ms(model, x[:bs], y[:bs], repeats)
    with torch.no_grad():
        clean = round(100.0 * float((model(x).argmax(1) == y).float().mean()), 2)
    return {
        "setup": {
            "model": "lenet5 (1 epoch Adam on fashion-mnist train)",
            "dataset": "fashion-mnist test",
            "n": n_test,
            "batch_size": bs,
            "eps": EPS,
            "alpha": ALPHA,
            "steps": STEPS,
            "random_start": True,
            "repeats_best_of": repeats,
            "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "isa_caps": {
                k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")
            },
        },
        "clean_acc": clean,
        "img_per_s": ips,
        "seconds": {k: round(v, 3) for k, v in wall.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_time_ratio_vs_torchattacks": {
            name: round(cpu["torchattacks"] / v, 3)
            for name, v in cpu.items()
            if name != "torchattacks"
        },
        "robust_acc": acc,
        "forward_rows": rows,
        "work_ratio_vs_torchattacks": {
            name: round(work["torchattacks"] / w, 3)
            for name, w in work.items()
            if name != "torchattacks"
        },
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
        "step_profile_ms": profile,
    }
