"""Settings of the CTR paper: training presets (core :class:`Preset`) and the three profiles.

:func:`natural_preset` builds one natural-training setting (Tables 1-4, Fig. 1, 3-6) and
:func:`adversarial_preset` one adversarial-training setting (Tables 5-9); both return a core
:class:`~robustlab.core.repro.Preset` whose ``config`` shows every ``TrainConfig`` value and whose
``doc`` starts with the command that reproduces it and the published value it is compared with.
:data:`PROFILES` holds the budget of each profile ("quick", "fmnist", "paper") as core
:class:`~robustlab.core.repro.Profile` objects.

Paper settings (section 5.1.1 / 5.2.1): batch 128, SGD momentum 0.9, weight decay 5e-4.
Natural: lr 0.01, Multistep x0.1 at 1/2 and 3/4, Cyclic max 0.01 min 0; MNISTNet 20 epochs on
MNIST, 50 on FashionMNIST; VGG16/ResNet50 200 epochs on CIFAR. MDL: K 4, p 0.5, rho 1, eta by
dataset (:data:`PAPER_ETA`). Adversarial (CIFAR-10 ResNet18, eps 8/255): Multistep lr 0.1
(Free, TRADES) / 0.2 (Fast, Madry) x0.1 at 2/3 and 5/6 with the warm-up of eq. 29; Cyclic max
0.2 (Fast, Madry, TRADES) / 0.1 (Free). The analog profiles (LeNet-5 on Fashion-MNIST) use a
quarter of those rates (:data:`AT_LR_LENET5`, written out: the larger ResNet rates diverge on
LeNet-5); each profile names its table in ``at_lr``.
"""

from __future__ import annotations

from typing import Any

from robustlab.core.repro import Preset, Profile

__all__ = [
    "AT_LR",
    "AT_LR_LENET5",
    "DATASETS",
    "MDL_FMNIST_CYCLIC",
    "MDL_FMNIST_MULTISTEP",
    "PAPER_ETA",
    "PROFILES",
    "QUICK_MADRY",
    "QUICK_MADRY_CTR",
    "QUICK_MDL",
    "WARMUP",
    "adversarial_preset",
    "natural_preset",
]

#: Column codes of Tables 1-2 -> dataset names.
DATASETS = {"M": "mnist", "FM": "fashion-mnist", "C10": "cifar10", "C100": "cifar100"}
#: The paper's eta per dataset (section 5.1.2, "Impacts of eta").
PAPER_ETA = {"mnist": 100.0, "fashion-mnist": 90.0, "cifar10": 100.0, "cifar100": 70.0}
#: Natural-training epochs per dataset (section 5.1.1).
NT_EPOCHS = {"mnist": 20, "fashion-mnist": 50, "cifar10": 200, "cifar100": 200}
#: Adversarial-training lr by (method, schedule) (section 5.2.1; ResNet18 on CIFAR-10).
AT_LR = {
    ("fast-at", "multistep"): 0.2,
    ("madry-at", "multistep"): 0.2,
    ("free-at", "multistep"): 0.1,
    ("trades", "multistep"): 0.1,
    ("fast-at", "cyclic"): 0.2,
    ("madry-at", "cyclic"): 0.2,
    ("trades", "cyclic"): 0.2,
    ("free-at", "cyclic"): 0.1,
}
#: The analog profiles' AT lr (LeNet-5 on Fashion-MNIST): a quarter of :data:`AT_LR`.
AT_LR_LENET5 = {
    ("fast-at", "multistep"): 0.05,
    ("madry-at", "multistep"): 0.05,
    ("free-at", "multistep"): 0.025,
    ("trades", "multistep"): 0.025,
    ("fast-at", "cyclic"): 0.05,
    ("madry-at", "cyclic"): 0.05,
    ("trades", "cyclic"): 0.05,
    ("free-at", "cyclic"): 0.025,
}
#: The CTR warm-up of eq. 29 (registered by this package in core's warm-up registry).
WARMUP = "ctr/eq29"


def _command(profile: str, table: str) -> str:
    return f"robustlab reproduce ctr --profile {profile} --tables {table}"


def natural_preset(
    method: str,
    method_opts: dict[str, Any] | None = None,
    *,
    model: str = "mnistnet",
    dataset: str = "fashion-mnist",
    schedule: str = "cyclic",
    epochs: int = 50,
    lr: float = 0.01,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    batch_size: int = 128,
    command: str = "",
    expected: str = "",
) -> Preset:
    """One natural-training setting: SGD (momentum 0.9), batch 128, weight decay 5e-4.

    Args:
        method: Training method (core baseline such as "dropout", or "ctr/mdl", ...).
        method_opts: Its options (e.g. ``{"eta": 90.0}``).
        model, dataset, schedule ("cyclic" | "multistep"), epochs, lr, n_train (None: the whole
            training set), n_test (clean accuracy on the first n_test test images; None: all),
            seed, batch_size (128 as published): the run's settings.
        command, expected: How to run it; what it is compared with.
    """
    config = {
        "dataset": dataset,
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": "sgd",
        "lr": lr,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": schedule,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
    }
    return Preset(method, dict(method_opts or {}), config, command, expected)


def at_method_opts(
    base: str, gamma: float, beta: float, eps: float, alpha: float, steps: int, replays: int
) -> dict[str, Any]:
    """Options of core's adversarial method ``base`` (and of its ``ctr/`` variant if gamma > 0).

    Fast-AT steps 1.25 eps (Wong et al.), Free-AT replays each batch ``replays`` times.
    """
    opts: dict[str, Any] = {"eps": eps}
    if base in ("madry-at", "trades"):
        opts |= {"alpha": alpha, "steps": steps}
    if base == "trades":
        opts["beta"] = beta
    if base == "fast-at":
        opts["alpha"] = 1.25 * eps
    if base == "free-at":
        opts["m"] = replays
    if gamma:
        opts["gamma"] = gamma
    return opts


def adversarial_preset(
    base: str,
    *,
    gamma: float = 0.0,
    beta: float = 6.0,
    schedule: str = "multistep",
    epochs: int = 50,
    lr: float = 0.2,
    eps: float = 8 / 255,
    alpha: float = 2 / 255,
    steps: int = 7,
    replays: int = 8,
    model: str = "resnet18",
    dataset: str = "cifar10",
    n_train: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    command: str = "",
    expected: str = "",
) -> Preset:
    """One adversarial-training setting (Fast/Free/Madry-AT or TRADES, with or without CTR).

    Method: core's ``base`` for gamma = 0, its ``ctr/`` variant (STD weight gamma) otherwise.
    Schedule: "multistep" (x0.1 at 2/3 and 5/6 of training, with the eq. 29 warm-up
    :data:`WARMUP`) or "cyclic" (one cycle, no warm-up). SGD momentum 0.9, weight decay 5e-4.

    Args:
        base: "fast-at", "free-at", "madry-at" or "trades".
        gamma, beta: STD weight (0 = baseline), TRADES' beta (ignored otherwise).
        schedule, epochs, lr, eps, alpha (attack step), steps (PGD steps in training),
        replays (Free-AT m), model, dataset, n_train, batch_size, seed: the run's settings.
        command, expected: How to run it; what it is compared with.
    """
    multistep = schedule == "multistep"
    config = {
        "dataset": dataset,
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": "sgd",
        "lr": lr,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "multistep" if multistep else "cyclic",
        "schedule_opts": {"milestones": [2 / 3, 5 / 6]} if multistep else {},
        "warmup": WARMUP if multistep else "none",
        "seed": seed,
        "n_train": n_train,
    }
    method = base if gamma == 0 else f"ctr/{base}"
    opts = at_method_opts(base, gamma, beta, eps, alpha, steps, replays)
    return Preset(method, opts, config, command, expected)


_BASE: dict[str, Any] = {
    "nt_datasets": ("FM",),
    "nt_epochs": None,
    "nt_lr": 0.01,
    "nt_n_train": None,
    "nt_n_test": None,
    "nt_batch_size": 128,
    "nt_rows": None,
    "schedules": ("cyclic", "multistep"),
    "curve_eps": tuple(k / 255 for k in (2, 4, 6, 8, 10, 12, 14, 16, 24)),
    "curve_n": 2000,
    "curve_pgd_steps": 20,
    "eta_sweep": (100.0, 90.0, 80.0, 70.0),
    "seeds": (0, 1, 2),
    "at_model": "lenet5",
    "at_dataset": "fashion-mnist",
    "at_eps": 0.1,
    "at_alpha": 0.025,
    "at_steps": 7,
    "at_lr": AT_LR_LENET5,
    "at_epoch_scale": 0.1,
    "at_n_train": None,
    "at_batch_size": 128,
    "at_rows": None,
    "at_schedules": ("cyclic",),
    "at_eval_n": 2000,
    "at_extra_attacks": True,
    "aa_n": None,
    "trades_steps": 10,
    "trades_alpha": 0.007 * 0.1 / 0.031,
    "fig4_datasets": ("FM",),
    "fig4_eps": tuple(k / 255 for k in (2, 8, 16, 24)),
    "fig4_n_white": 2000,
    "fig4_n_black": 1000,
    "t7_eps_nt": 2 / 255,
    "t7_eps_at": 0.1,
    "t7_n": 2000,
    "t7_pgd_steps": 20,
    "t7_apgd": True,
    "t7_losses": ("CE", "SCE", "KL", "SKL", "STD"),
    "fig7_gammas": (1.0, 2.0, 3.0, 4.0, 5.0),
}


def _profile(name: str, description: str, **settings: Any) -> Profile:
    """A CTR profile: :data:`_BASE` with ``settings`` changed.

    Settings of the CTR profiles (``Profile`` keyword arguments):

    nt_datasets: Table 1-4 column codes reproduced ("FM", or all four). nt_epochs: natural-training
    epochs (None: the paper's per dataset). nt_lr: natural-training lr. nt_batch_size: its batch
    (128 as published). nt_n_train / nt_n_test:
    training-set size / test images for clean accuracy and Table 4 (None: all). nt_rows: rows of
    Tables 1-4 reproduced (None: all). schedules: schedules of the natural tables. curve_eps,
    curve_n, curve_pgd_steps: Fig. 3-5's FGSM/PGD curves. eta_sweep: eta values of Fig. 1 (empty:
    not reproduced). seeds: seeds of Table 3. at_model, at_dataset, at_eps, at_alpha, at_steps: the
    adversarial-training setting. at_lr: AT lr per (method, schedule). at_epoch_scale: AT epochs =
    the paper's x this factor. at_n_train, at_batch_size: AT training set and batch. at_rows: (base,
    gamma, beta) rows of Tables 5/6/8/9 reproduced (None: all printed). at_schedules, at_eval_n,
    at_extra_attacks: AT tables' schedules, evaluation inputs, Table 8/9 attacks. aa_n: images
    of the AutoAttack evaluation beside the robustness claims (the first of the AT evaluation's;
    None: all). trades_steps, trades_alpha: TRADES' training attack (TRADES' own 10 steps of
    0.007 at eps 0.031; the analogs keep the step/eps ratio: 0.0226 at eps 0.1). fig4_datasets,
    fig4_eps, fig4_n_white, fig4_n_black: Fig. 4 (codes reproduced, empty: not; eps; white-box /
    black-box + AutoAttack images). t7_eps_nt,
    t7_eps_at, t7_n, t7_pgd_steps, t7_apgd, t7_losses: Table 7's attack study. fig7_gammas: Fig. 7.
    """
    return Profile(name, description, **{**_BASE, **settings})


QUICK = _profile(
    "quick",
    (
        "QUICK PROFILE (CPU; measured times per CPU kind in the README: the budget is 15 minutes "
        "on an AVX2-only 2-core machine). Fashion-MNIST only. Natural training: MNISTNet with "
        "dropout and MDL (K 4, eta 90; multi-sample dropout, the third row of Tables 1-4, is left "
        "to the fmnist profile: a third 60k-image model does not fit the budget on AVX2), Cyclic "
        "schedule, 3 epochs on all 60,000 training images, batch 64, max lr 0.05 (the paper: 50 "
        "epochs at 0.01, batch 128). Measured in fp32: dropout 90.27 %, MSD 90.83 %, MDL 90.34 %; "
        "batch 128 at lr 0.1 reaches 89.9 % in 3 epochs and 89.1-89.2 % in 2; 4 epochs on "
        "10,000 images stall near 80-82 % at lr 0.01 and 0.05 alike. Clean accuracy on the "
        "10,000 test images, FGSM (2-16/255) and PGD-10 (2-8/255) curves on the first 500. Attack "
        "study (Table 7 analog): CE vs STD vs SCE (gamma 5) FGSM/PGD-10 at eps 2/255 on the "
        "dropout model, first 500 test images. Madry-AT (PGD-7) with and without CTR (gamma 2) "
        "on LeNet-5 at eps 0.1, 3 epochs on the first 8,000 training images (batch 32, max lr "
        "0.05), evaluated on 1,000 (AutoAttack standard on the first 200). "
        "Short budgets (3 epochs, not 50): the numbers check directions, not printed values."
    ),
    nt_epochs=3,
    nt_lr=0.05,
    nt_batch_size=64,
    nt_n_train=None,
    nt_rows=("DO [10]", "MDL (ours)"),
    schedules=("cyclic",),
    curve_eps=(2 / 255, 4 / 255, 8 / 255, 16 / 255),
    curve_n=500,
    curve_pgd_steps=10,
    eta_sweep=(),
    seeds=(0,),
    at_epoch_scale=0.06,
    at_n_train=8_000,
    at_batch_size=32,
    at_rows=(("madry-at", 0.0, 0.0), ("madry-at", 2.0, 0.0)),
    at_schedules=("cyclic",),
    at_eval_n=1000,
    aa_n=200,
    at_extra_attacks=False,
    t7_n=500,
    t7_pgd_steps=10,
    t7_apgd=False,
    t7_losses=("CE", "SCE", "STD"),
    fig7_gammas=(),
    fig4_datasets=(),
)

FMNIST = _profile(
    "fmnist",
    (
        "FMNIST PROFILE (CPU, many hours). The paper's exact FashionMNIST settings for Tables "
        "1-4 (MNISTNet, 50 epochs, lr 0.01, Cyclic and Multistep, eta 90, 3 seeds for Table 3, "
        "full test set) and the FashionMNIST panels of Fig. 1, 3, 5, 6 (FGSM/PGD-20 on the first "
        "2,000 test images). Tables 5-9 as analogs at eps 0.1 on Fashion-MNIST with LeNet-5, "
        "Cyclic schedule, epochs = the paper's x 0.1 (relative budgets kept), a subset of the "
        "printed (beta, gamma) rows (TRADES' training attack: 10 steps, step/eps as TRADES'); "
        "AutoAttack (core's, beside the robustness claims) on the AT runs' 2,000 images; Square "
        "left to the paper profile. Fig. 4 analog: MNISTNet on Fashion-MNIST, the nine "
        "regularisers, MDL and MDL-PCC under APGD and CW-Linf (first 2,000) and Square and "
        "AutoAttack (first 1,000) at eps 2, 8, 16, 24/255."
    ),
    at_rows=(
        ("fast-at", 0.0, 0.0),
        ("fast-at", 2.0, 0.0),
        ("free-at", 0.0, 0.0),
        ("free-at", 2.0, 0.0),
        ("madry-at", 0.0, 0.0),
        ("madry-at", 2.0, 0.0),
        ("trades", 0.0, 1.0),
        ("trades", 1.0, 1.0),
        ("trades", 3.0, 1.0),
        ("trades", 0.0, 6.0),
        ("trades", 1.0, 6.0),
    ),
)

PAPER = _profile(
    "paper",
    (
        "PAPER PROFILE (GPU and the datasets). Every printed cell: Tables 1-4 on MNIST, "
        "FashionMNIST (MNISTNet), CIFAR-10/100 (VGG16, ResNet50), 3 seeds for Table 3; Tables "
        "5-9 with ResNet18 on CIFAR-10 at eps 8/255, both schedules, every printed (beta, gamma, "
        "epochs) row; white-box attacks on the first 2,000 test images, AutoAttack and Square "
        "on the first 1,000. Fig. 4: VGG16 on CIFAR-10 with the nine regularisers, MDL and "
        "MDL-PCC under APGD, CW-Linf, Square and AutoAttack at eps 1-8, 12, 16/255."
    ),
    nt_datasets=("M", "FM", "C10", "C100"),
    at_model="resnet18",
    at_dataset="cifar10",
    at_eps=8 / 255,
    at_alpha=2 / 255,
    at_lr=AT_LR,
    at_epoch_scale=1.0,
    at_schedules=("multistep", "cyclic"),
    aa_n=1000,
    trades_alpha=0.007,
    fig4_datasets=("C10",),
    fig4_eps=tuple(k / 255 for k in (1, 2, 3, 4, 5, 6, 7, 8, 12, 16)),
    t7_eps_at=8 / 255,
)

PROFILES = {p.name: p for p in (QUICK, FMNIST, PAPER)}

MDL_FMNIST_CYCLIC = natural_preset(
    "ctr/mdl",
    {"eta": 90.0},
    schedule="cyclic",
    command=_command("fmnist", "1"),
    expected="Table 1, MDL (ours), MNISTNet/Cyclic/FM: 93.53 % clean accuracy",
)
"""``robustlab reproduce ctr --profile fmnist --tables 1`` -> Table 1 MDL (ours)
MNISTNet/Cyclic/FM, printed 93.53 %. MDL (eta 90), MNISTNet, Fashion-MNIST, Cyclic, 50 epochs."""

MDL_FMNIST_MULTISTEP = natural_preset(
    "ctr/mdl",
    {"eta": 90.0},
    schedule="multistep",
    command=_command("fmnist", "1"),
    expected="Table 1, MDL (ours), MNISTNet/Multistep/FM: 93.95 % clean accuracy",
)
"""``robustlab reproduce ctr --profile fmnist --tables 1`` -> Table 1 MDL (ours)
MNISTNet/Multistep/FM, printed 93.95 %. MDL (eta 90), MNISTNet, Fashion-MNIST, Multistep, 50 epochs."""

QUICK_MDL = natural_preset(
    "ctr/mdl",
    {"eta": 90.0},
    epochs=3,
    lr=0.05,
    batch_size=64,
    command=_command("quick", "1"),
    expected="MDL clean accuracy above dropout and MSD (claim t1-mdl-best)",
)
"""``robustlab reproduce ctr --profile quick --tables 1`` -> MDL clean accuracy above dropout
and MSD (claim t1-mdl-best-...). Quick MDL run: 3 epochs on all 60k images, batch 64, max lr 0.05."""

QUICK_MADRY = adversarial_preset(
    "madry-at",
    schedule="cyclic",
    epochs=3,
    lr=0.05,
    eps=0.1,
    alpha=0.025,
    model="lenet5",
    dataset="fashion-mnist",
    n_train=8_000,
    batch_size=32,
    command=_command("quick", "6"),
    expected="the baseline of the t6-madry-at-* claims",
)
"""``robustlab reproduce ctr --profile quick --tables 6`` -> the baseline of the t6 claims.
Quick Madry-AT without CTR, LeNet-5, Fashion-MNIST, eps 0.1, PGD-7, 3 epochs on 8k images."""

QUICK_MADRY_CTR = adversarial_preset(
    "madry-at",
    gamma=2.0,
    schedule="cyclic",
    epochs=3,
    lr=0.05,
    eps=0.1,
    alpha=0.025,
    model="lenet5",
    dataset="fashion-mnist",
    n_train=8_000,
    batch_size=32,
    command=_command("quick", "6"),
    expected="PGD accuracy above Madry-AT without CTR at comparable clean accuracy",
)
"""``robustlab reproduce ctr --profile quick --tables 6`` -> PGD accuracy above the baseline at
clean accuracy within 1.5 points (t6 claims). Madry-AT with CTR (gamma 2), LeNet-5, eps 0.1."""
