"""Presets (one core :class:`Preset` per trained model) and the three reproduction profiles.

Rows of the published CSV -> (method, options). A run id is ``<dataset key>-<row slug>``
(``c10-d2r-cag``, ``fm-lbgat``). Every value a run uses is in its preset (no hidden factor):
the D2R loss weights sit in the ``objective`` dict of the method options (``alpha`` there is the
loss weight; the method's own ``alpha`` is the attack step, LBGAT's name).

Section 4 / the official code: SGD lr 0.1, momentum 0.9, weight decay 2e-4, batch 128, 100
epochs, LBGAT's schedule (lr 0.02 in epoch 1, x0.1 at epochs 75 and 90), crop 4 + flip, eps 0.031,
step 0.007, 10 attack iterations, lam 1 (CIFAR-10) / 0.1 (CIFAR-100, Tiny ImageNet). The Table 1
baselines we re-run (PGD-AT, TRADES, MART, AWP) use the same budget with core's method defaults
and a plain multistep schedule at 75 % / 90 % (their own papers' settings differ; their printed
values come from those papers).
"""

from __future__ import annotations

from typing import Any

from robustlab.core.repro import Preset, Profile
from robustlab.d2r.methods import d2r_objective

__all__ = [
    "DATASETS",
    "FMNIST",
    "PAPER",
    "PROFILES",
    "QUICK",
    "ROWS",
    "preset",
    "run_id",
]

#: Row label (as in the CSV) -> (method, D2R loss (alpha, beta) or None, run-id slug).
ROWS: dict[str, tuple[str, tuple[float, float] | None, str]] = {
    "PGD-AT [11]": ("madry-at", None, "pgd-at"),
    "TRADES [18]": ("trades", None, "trades"),
    "MART [15]": ("mart", None, "mart"),
    "AWP [16]": ("awp-at", None, "awp"),
    "LBGAT [1] (baseline)": ("lbgat", None, "lbgat"),
    "D2R-CAG (ours)": ("d2r/d2r-cag", (30.0, 20.0), "d2r-cag"),
    "D2R (alpha=0, beta=1)": ("d2r/d2r", (0.0, 1.0), "d2r-a0-b1"),
    "D2R (alpha=1, beta=0)": ("d2r/d2r", (1.0, 0.0), "d2r-a1-b0"),
    "D2R (alpha=20, beta=1)": ("d2r/d2r", (20.0, 1.0), "d2r-a20-b1"),
    "D2R (alpha=30, beta=1)": ("d2r/d2r", (30.0, 1.0), "d2r-a30-b1"),
    "D2R (alpha=30, beta=20)": ("d2r/d2r", (30.0, 20.0), "d2r-a30-b20"),
    "D2R-CAG (alpha=30, beta=20)": ("d2r/d2r-cag", (30.0, 20.0), "d2r-cag"),
}

#: Column key of Table 1 -> (core dataset, target model, lam, run-id prefix, crop/flip augment).
DATASETS: dict[str, tuple[str, str, float, str, bool]] = {
    "CIFAR-10": ("cifar10", "wrn-34-10", 1.0, "c10", True),
    "CIFAR-100": ("cifar100", "wrn-34-10", 0.1, "c100", True),
    "TinyImageNet^1": ("tiny-imagenet", "preactresnet18", 0.1, "tin1", True),
    "TinyImageNet^2": ("tiny-imagenet", "wrn-34-10", 0.1, "tin2", True),
    "FMNIST": ("fashion-mnist", "lenet5", 1.0, "fm", False),
}


def run_id(key: str, row: str) -> str:
    """``("CIFAR-10", "D2R-CAG (ours)") -> "c10-d2r-cag"`` (Table 1 and 2 rows share runs)."""
    return f"{DATASETS[key][3]}-{ROWS[row][2]}"


def preset(profile: Profile, key: str, row: str, command: str = "", expected: str = "") -> Preset:
    """The training preset of Table row ``row`` on dataset ``key`` at the profile's budget.

    Args:
        profile: Budget (epochs, lr, eps, train step, n_train, models, schedule).
        key: A :data:`DATASETS` key; the analog profiles train on "FMNIST".
        row: A :data:`ROWS` label.
        command: How to reproduce it; expected: the paper's value it is compared with.
    """
    dataset, target, lam, _, augment = DATASETS[key]
    method, weights, _ = ROWS[row]
    target = str(profile.target) if key == "FMNIST" else target
    opts: dict[str, Any] = {"eps": profile.eps, "alpha": profile.train_step, "steps": 10}
    if method == "trades":
        opts["beta"] = 6.0
    if method in ("lbgat", "d2r/d2r", "d2r/d2r-cag"):
        opts["guide_model"] = profile.guide
    if method == "lbgat":
        opts["beta"] = 0.0  # LBGAT0: the released script, the paper's baseline
    if weights is not None:
        opts["objective"] = d2r_objective(weights[0], weights[1], lam, "elementwise_mean")
    guided = method in ("lbgat", "d2r/d2r", "d2r/d2r-cag")
    schedule = profile.schedule if guided else profile.baseline_schedule
    config: dict[str, Any] = {
        "dataset": dataset,
        "model": target,
        "epochs": profile.epochs,
        "batch_size": profile.batch_size,
        "optimizer": "sgd",
        "lr": profile.lr,
        "momentum": 0.9,
        "weight_decay": 2e-4,
        "schedule": schedule,
        "schedule_opts": {"milestones": [0.75, 0.9]} if schedule != "constant" else {},
        "n_train": profile.n_train,
        "augment": augment,
        "precision": profile.precision,
        "seed": 0,
    }
    return Preset(method, opts, config, command, expected)


_QUICK_T1 = ("LBGAT [1] (baseline)", "D2R-CAG (ours)")
_QUICK_T2 = (
    "D2R (alpha=0, beta=1)",
    "D2R (alpha=30, beta=1)",
    "D2R (alpha=30, beta=20)",
    "D2R-CAG (alpha=30, beta=20)",
)
_T1_ALL = (
    "PGD-AT [11]",
    "TRADES [18]",
    "MART [15]",
    "AWP [16]",
    "LBGAT [1] (baseline)",
    "D2R-CAG (ours)",
)
_T2_ALL = tuple(r for r in ROWS if r.startswith("D2R (") or r.startswith("D2R-CAG (alpha"))

QUICK = Profile(
    "quick",
    "QUICK PROFILE (CPU, ~5 min on 2 cores here, <= 15 min on an AVX2-only 2-core machine): "
    "Fashion-MNIST, LeNet-5 target + LeNet-5 guide, 1 epoch on the first 10,000 training images "
    "(batch 32, SGD 0.05 constant, fp32), eps 0.1, 10-step training attack of 0.0225; runs LBGAT, "
    "D2R (alpha, beta) = (0, 1), (30, 1), (30, 20) and D2R-CAG (30, 20); clean, PGD-10/20/50 and "
    "C&W-20 (step 0.025) on the first 500 test images, AutoAttack standard on the first 100. "
    "Analog of the CIFAR-10 cells: directions only, far below the paper's budget.",
    datasets=("FMNIST",),
    target="lenet5",
    guide="lenet5",
    epochs=1,
    n_train=10_000,
    batch_size=32,
    lr=0.05,
    schedule="constant",
    baseline_schedule="constant",
    precision="fp32",
    eps=0.1,
    train_step=0.0225,
    eval_eps=0.1,
    eval_step=0.025,
    n_eval=500,
    aa_n=100,
    table1=_QUICK_T1,
    table2=_QUICK_T2,
)
FMNIST = QUICK.replace(
    name="fmnist",
    description=(
        "FMNIST PROFILE (CPU, ~a day on 2 cores): Fashion-MNIST, MNISTNet target + LeNet-5 guide "
        "(guide smaller than target, as ResNet-18 vs WRN-34-10), 20 epochs on all 60,000 training "
        "images, SGD 0.05 with LBGAT's schedule (x0.2 in epoch 1, x0.1 at 75 % and 90 %), eps 0.1; "
        "the full Table 2 ablation (6 rows) plus the re-runnable Table 1 rows (PGD-AT, TRADES, "
        "MART, AWP, LBGAT); 1000 test images, AutoAttack standard on all 1000."
    ),
    target="mnistnet",
    epochs=20,
    batch_size=128,
    n_train=None,
    schedule="lbgat",
    baseline_schedule="multistep",
    n_eval=1000,
    aa_n=None,
    table1=_T1_ALL,
    table2=_T2_ALL,
)
PAPER = Profile(
    "paper",
    "PAPER PROFILE (GPU, days): WRN-34-10 target + LBGAT's ResNet-18 guide on CIFAR-10 (lam 1) and "
    "CIFAR-100 (lam 0.1), Tiny ImageNet with a PreActResNet18 (setting 1) or WRN-34-10 (setting 2) "
    "target; 100 epochs, SGD 0.1, LBGAT's schedule, crop + flip, eps 0.031, step 0.007, 10 steps; "
    "Table 1's re-runnable rows and the Table 2 ablation; every test image, PGD-10/20/50 and C&W "
    "at 8/255 (step 2/255), AutoAttack standard on all.",
    datasets=("CIFAR-10", "CIFAR-100", "TinyImageNet^1", "TinyImageNet^2"),
    target="wrn-34-10",
    guide="resnet18-lbgat",
    epochs=100,
    n_train=None,
    batch_size=128,
    lr=0.1,
    schedule="lbgat",
    baseline_schedule="multistep",
    precision="auto",
    eps=0.031,
    train_step=0.007,
    eval_step=2 / 255,
    eval_eps=8 / 255,
    n_eval=None,
    aa_n=None,
    table1=_T1_ALL,
    table2=_T2_ALL,
)
PROFILES = {p.name: p for p in (QUICK, FMNIST, PAPER)}
