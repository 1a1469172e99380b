"""Settings of the CTR paper as frozen dataclasses: training presets and the three profiles.

A :class:`NaturalPreset` is one natural-training setting (Tables 1-4, Fig. 1, 3-6); an
:class:`AdversarialPreset` one adversarial-training setting (Tables 5-9). ``preset.doc`` starts
with the exact command that reproduces it and the published value it is compared with.
:data:`PROFILES` holds the budget of each profile ("quick", "fmnist", "paper").

Paper settings (section 5.1.1 / 5.2.1): batch 128, SGD momentum 0.9, weight decay 5e-4.
Natural: lr 0.01, Multistep x0.1 at 1/2 and 3/4, Cyclic max 0.01 min 0; MNISTNet 20 epochs on
MNIST, 50 on FashionMNIST; VGG16/ResNet50 200 epochs on CIFAR. MDL: K 4, p 0.5, rho 1, eta by
dataset (:data:`PAPER_ETA`). Adversarial (CIFAR-10 ResNet18, eps 8/255): Multistep lr 0.1
(Free, TRADES) / 0.2 (Fast, Madry) x0.1 at 2/3 and 5/6 with the warm-up of eq. 29; Cyclic max
0.2 (Fast, Madry, TRADES) / 0.1 (Free).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from robustlab.core.train import TrainConfig

__all__ = [
    "AT_LR",
    "DATASETS",
    "MDL_FMNIST_CYCLIC",
    "MDL_FMNIST_MULTISTEP",
    "PAPER_ETA",
    "PROFILES",
    "QUICK_MADRY",
    "QUICK_MADRY_CTR",
    "QUICK_MDL",
    "AdversarialPreset",
    "NaturalPreset",
    "Profile",
]

#: Column codes of Tables 1-2 -> dataset names.
DATASETS = {"M": "mnist", "FM": "fashion-mnist", "C10": "cifar10", "C100": "cifar100"}
#: The paper's eta per dataset (section 5.1.2, "Impacts of eta").
PAPER_ETA = {"mnist": 100.0, "fashion-mnist": 90.0, "cifar10": 100.0, "cifar100": 70.0}
#: Natural-training epochs per dataset (section 5.1.1).
NT_EPOCHS = {"mnist": 20, "fashion-mnist": 50, "cifar10": 200, "cifar100": 200}
#: Adversarial-training lr by (method, schedule) (section 5.2.1).
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


def _command(profile: str, table: str) -> str:
    return f"robustlab reproduce ctr --profile {profile} --tables {table}"


@dataclass(frozen=True)
class NaturalPreset:
    """One natural-training setting.

    Attributes:
        method: Training method (core baseline such as "dropout", or "ctr/mdl", ...).
        method_opts: Its options (e.g. ``{"eta": 90.0}``).
        model, dataset, schedule ("cyclic" | "multistep"), epochs, lr, batch_size,
        weight_decay, n_train (None = the whole training set), seed: the run's settings.
        command: How to run it; expected: what it is compared with (printed value or claim).
    """

    method: str
    method_opts: dict[str, Any] = field(default_factory=dict)
    model: str = "mnistnet"
    dataset: str = "fashion-mnist"
    schedule: str = "cyclic"
    epochs: int = 50
    lr: float = 0.01
    batch_size: int = 128
    weight_decay: float = 5e-4
    n_train: int | None = None
    n_test: int | None = None
    seed: int = 0
    command: str = ""
    expected: str = ""

    @property
    def doc(self) -> str:
        """Command and expected result first, then the settings."""
        return f"{self.command}  ->  {self.expected}\n{self!r}"

    def train_config(self) -> TrainConfig:
        """The core ``TrainConfig`` of this setting (clean accuracy on the first ``n_test`` test
        images, all when None)."""
        return TrainConfig(
            dataset=self.dataset,
            model=self.model,
            method=self.method,
            method_opts=dict(self.method_opts),
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer="sgd",
            lr=self.lr,
            momentum=0.9,
            weight_decay=self.weight_decay,
            schedule=self.schedule,  # type: ignore[arg-type]
            seed=self.seed,
            n_train=self.n_train,
            n_test=self.n_test,
        )


@dataclass(frozen=True)
class AdversarialPreset:
    """One adversarial-training setting (Fast/Free/Madry-AT or TRADES, with or without CTR).

    Attributes:
        base: Core method: "fast-at", "free-at", "madry-at" or "trades".
        gamma: STD weight (0 = the baseline, trained with core's method itself).
        beta: TRADES' beta (ignored otherwise).
        schedule: "multistep" (with the eq. 29 warm-up) or "cyclic".
        epochs, lr, eps, alpha (attack step), steps (PGD steps in training), replays (Free-AT m),
        model, dataset, n_train, batch_size, weight_decay, seed: the run's settings.
        command, expected: as in :class:`NaturalPreset`.
    """

    base: str
    gamma: float = 0.0
    beta: float = 6.0
    schedule: str = "multistep"
    epochs: int = 50
    lr: float = 0.2
    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 7
    replays: int = 8
    model: str = "resnet18"
    dataset: str = "cifar10"
    n_train: int | None = None
    batch_size: int = 128
    weight_decay: float = 5e-4
    seed: int = 0
    command: str = ""
    expected: str = ""

    @property
    def doc(self) -> str:
        """Command and expected result first, then the settings."""
        return f"{self.command}  ->  {self.expected}\n{self!r}"

    @property
    def method(self) -> str:
        """The METHODS name: core's method for gamma = 0, its ``ctr/`` variant otherwise."""
        return self.base if self.gamma == 0 else f"ctr/{self.base}"

    def method_opts(self) -> dict[str, Any]:
        """Options of the method (core's option names)."""
        opts: dict[str, Any] = {"eps": self.eps}
        if self.base in ("madry-at", "trades"):
            opts |= {"alpha": self.alpha, "steps": self.steps}
        if self.base == "trades":
            opts["beta"] = self.beta
        if self.base == "fast-at":
            opts["alpha"] = 1.25 * self.eps
        if self.base == "free-at":
            opts["m"] = self.replays
        if self.gamma:
            opts["gamma"] = self.gamma
        return opts

    def train_config(self) -> TrainConfig:
        """The core ``TrainConfig``: Multistep x0.1 at 2/3 and 5/6 with the CTR warm-up (eq. 29),
        or one Cyclic cycle."""
        multistep = self.schedule == "multistep"
        return TrainConfig(
            dataset=self.dataset,
            model=self.model,
            method=self.method,
            method_opts=self.method_opts(),
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=0.9,
            weight_decay=self.weight_decay,
            schedule="multistep" if multistep else "cyclic",
            schedule_opts={"milestones": [2 / 3, 5 / 6]} if multistep else {},
            warmup="ctr" if multistep else "none",
            seed=self.seed,
            n_train=self.n_train,
        )


@dataclass(frozen=True)
class Profile:
    """The budget of one profile.

    Attributes:
        name: "quick", "fmnist" or "paper".
        description: The budget statement printed at the top of the report.
        nt_datasets: Table 1-4 column codes reproduced ("FM", or all four).
        nt_epochs: Natural-training epochs per dataset (None: the paper's).
        nt_lr: Natural-training lr (the paper's 0.01 unless the budget forces more).
        nt_n_train: Training-set size (None: all).
        nt_n_test: Test images for clean accuracy and Table 4's counts (None: all, as the paper).
        nt_rows: Rows of Tables 1-4 reproduced (None: all).
        schedules: Schedules of the natural tables ("cyclic", "multistep").
        curve_eps: eps of Fig. 3-5's FGSM/PGD curves (pixel space); curve_n: first n test inputs.
        curve_pgd_steps: PGD steps of the curves (paper 20; 40 on MNIST).
        eta_sweep: eta values of Fig. 1 (empty: not reproduced).
        seeds: Seeds of Table 3 (mean of 3 runs in the paper).
        at_model, at_dataset, at_eps, at_alpha, at_steps: adversarial-training analog settings.
        at_epoch_scale: AT epochs = the paper's epochs x this factor (relative budgets kept).
        at_n_train: AT training-set size (None: all).
        at_batch_size: AT batch size (the paper's 128; the quick profile uses 32 for more steps).
        at_rows: (base, gamma, beta) settings of Tables 5/6/8/9 reproduced; None: all printed.
        at_schedules: Schedules of the AT tables.
        at_eval_n: Evaluation inputs of the AT tables; at_extra_attacks: Table 8/9 attacks.
        t7_eps_nt / t7_eps_at / t7_n / t7_pgd_steps / t7_apgd / t7_losses: Table 7's attack
            study (eps on natural / adversarial models, inputs, PGD steps, APGD rows, losses).
        fig7_gammas: gamma values of Fig. 7's SCE-driven PGD (empty: not reproduced).
    """

    name: str
    description: str
    nt_datasets: tuple[str, ...] = ("FM",)
    nt_epochs: int | None = None
    nt_lr: float = 0.01
    nt_n_train: int | None = None
    nt_n_test: int | None = None
    nt_rows: tuple[str, ...] | None = None
    schedules: tuple[str, ...] = ("cyclic", "multistep")
    curve_eps: tuple[float, ...] = tuple(k / 255 for k in (2, 4, 6, 8, 10, 12, 14, 16, 24))
    curve_n: int = 2000
    curve_pgd_steps: int = 20
    eta_sweep: tuple[float, ...] = (100.0, 90.0, 80.0, 70.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    at_model: str = "lenet5"
    at_dataset: str = "fashion-mnist"
    at_eps: float = 0.1
    at_alpha: float = 0.025
    at_steps: int = 7
    at_epoch_scale: float = 0.1
    at_n_train: int | None = None
    at_batch_size: int = 128
    at_rows: tuple[tuple[str, float, float], ...] | None = None
    at_schedules: tuple[str, ...] = ("cyclic",)
    at_eval_n: int = 2000
    at_extra_attacks: bool = True
    t7_eps_nt: float = 2 / 255
    t7_eps_at: float = 0.1
    t7_n: int = 2000
    t7_pgd_steps: int = 20
    t7_apgd: bool = True
    t7_losses: tuple[str, ...] = ("CE", "SCE", "KL", "SKL", "STD")
    fig7_gammas: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0)


QUICK = Profile(
    name="quick",
    description=(
        "QUICK PROFILE (CPU, about 15 minutes on 2 cores). Fashion-MNIST only. Natural training: "
        "MNISTNet with dropout, multi-sample dropout (MSD) and MDL (eta 90), Cyclic schedule, "
        "4 epochs on the first 10,000 training images with max lr 0.05 (the paper: 50 epochs on "
        "60,000 at 0.01; at 0.01 this budget stalls near 80 %), clean accuracy on the 10,000 "
        "test images, FGSM (2-16/255) and PGD-10 (2-8/255) curves on the first 1,000. Attack "
        "study (Table 7 analog): CE vs STD vs SCE (gamma 5) FGSM/PGD-10 at eps 2/255 on the "
        "dropout model, first 500 test images. Madry-AT (PGD-7) with and without CTR (gamma 2) "
        "on LeNet-5 at eps 0.1, 3 epochs on the first 8,000 training images (batch 32, max lr "
        "0.05), evaluated on 1,000. "
        "Under-trained models: the numbers check directions, not the printed values."
    ),
    nt_epochs=4,
    nt_lr=0.05,
    nt_n_train=10_000,
    nt_rows=("DO [10]", "MSD [13]", "MDL (ours)"),
    schedules=("cyclic",),
    curve_eps=(2 / 255, 4 / 255, 8 / 255, 16 / 255),
    curve_n=1000,
    curve_pgd_steps=10,
    eta_sweep=(),
    seeds=(0,),
    at_epoch_scale=0.06,
    at_n_train=8_000,
    at_batch_size=32,
    at_rows=(("madry-at", 0.0, 0.0), ("madry-at", 2.0, 0.0)),
    at_schedules=("cyclic",),
    at_eval_n=1000,
    at_extra_attacks=False,
    t7_n=500,
    t7_pgd_steps=10,
    t7_apgd=False,
    t7_losses=("CE", "SCE", "STD"),
    fig7_gammas=(),
)

FMNIST = Profile(
    name="fmnist",
    description=(
        "FMNIST PROFILE (CPU, many hours). The paper's exact FashionMNIST settings for Tables "
        "1-4 (MNISTNet, 50 epochs, lr 0.01, Cyclic and Multistep, eta 90, 3 seeds for Table 3, "
        "full test set) and the FashionMNIST panels of Fig. 1, 3, 5, 6 (FGSM/PGD-20 on the first "
        "2,000 test images). Tables 5-9 as analogs at eps 0.1 on Fashion-MNIST with LeNet-5, "
        "Cyclic schedule, epochs = the paper's x 0.1 (relative budgets kept), a subset of the "
        "printed (beta, gamma) rows; AutoAttack and Square are left to the paper profile."
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

PAPER = Profile(
    name="paper",
    description=(
        "PAPER PROFILE (GPU and the datasets). Every printed cell: Tables 1-4 on MNIST, "
        "FashionMNIST (MNISTNet), CIFAR-10/100 (VGG16, ResNet50), 3 seeds for Table 3; Tables "
        "5-9 with ResNet18 on CIFAR-10 at eps 8/255, both schedules, every printed (beta, gamma, "
        "epochs) row; white-box attacks on the first 2,000 test images, AutoAttack and Square "
        "on the first 1,000."
    ),
    nt_datasets=("M", "FM", "C10", "C100"),
    at_model="resnet18",
    at_dataset="cifar10",
    at_eps=8 / 255,
    at_alpha=2 / 255,
    at_epoch_scale=1.0,
    at_schedules=("multistep", "cyclic"),
    t7_eps_at=8 / 255,
)

PROFILES = {p.name: p for p in (QUICK, FMNIST, PAPER)}

MDL_FMNIST_CYCLIC = NaturalPreset(
    "ctr/mdl",
    {"eta": 90.0},
    schedule="cyclic",
    command=_command("fmnist", "1"),
    expected="Table 1, MDL (ours), MNISTNet/Cyclic/FM: 93.53 % clean accuracy",
)
"""``robustlab reproduce ctr --profile fmnist --tables 1`` -> Table 1 MDL (ours)
MNISTNet/Cyclic/FM, printed 93.53 %. MDL (eta 90), MNISTNet, Fashion-MNIST, Cyclic, 50 epochs."""

MDL_FMNIST_MULTISTEP = NaturalPreset(
    "ctr/mdl",
    {"eta": 90.0},
    schedule="multistep",
    command=_command("fmnist", "1"),
    expected="Table 1, MDL (ours), MNISTNet/Multistep/FM: 93.95 % clean accuracy",
)
"""``robustlab reproduce ctr --profile fmnist --tables 1`` -> Table 1 MDL (ours)
MNISTNet/Multistep/FM, printed 93.95 %. MDL (eta 90), MNISTNet, Fashion-MNIST, Multistep, 50 epochs."""

QUICK_MDL = NaturalPreset(
    "ctr/mdl",
    {"eta": 90.0},
    epochs=4,
    lr=0.05,
    n_train=10_000,
    command=_command("quick", "1"),
    expected="MDL clean accuracy above dropout and MSD (claim t1-mdl-best)",
)
"""``robustlab reproduce ctr --profile quick --tables 1`` -> MDL clean accuracy above dropout
and MSD (claim t1-mdl-best-...). Quick MDL run: 4 epochs on 10k images, lr 0.05."""

QUICK_MADRY = AdversarialPreset(
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

QUICK_MADRY_CTR = AdversarialPreset(
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
