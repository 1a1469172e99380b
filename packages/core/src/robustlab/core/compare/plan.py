"""The comparison plan: every paper's headline method and its baseline under one budget.

Two families on Fashion-MNIST with one architecture family (LeNet-5), one optimiser, one seed and
one threat model (Linf, eps 0.1 for training and evaluation):

* natural objectives: CE (baseline), label smoothing, PC (pcloss), I-SCE (isce), MDL (ctr);
* adversarial training: Madry-AT (baseline), TRADES, CTR on both, TRADES+LTD (ltd; its teacher is
  the natural CE run, a run dependency), LBGAT, D2R-CAG (d2r), PC+AT (pcloss).

Methods are referred to by their registered ``METHODS`` names only (core never imports a paper
package); a method whose package is not installed is listed as "not installed", never dropped.
Where a method cannot follow the common setting, the deviation is data in :data:`ENTRIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro.spec import RunSpec
from robustlab.core.train import TrainConfig

EPS = 0.1  #: Linf budget of training and evaluation (pixel space)
STEPS = 10  #: PGD steps of every adversarial-training attack
ALPHA = 2.5 * EPS / STEPS  #: step size, Madry et al.'s 2.5 eps / steps rule
NATURAL, ADVERSARIAL = "natural", "adversarial"
FAMILIES = (NATURAL, ADVERSARIAL)
BASELINES = {NATURAL: "CE", ADVERSARIAL: "Madry-AT"}
TEACHER = "nat-ce"  #: the run LTD's teacher comes from (the natural family's CE baseline)


@dataclass(frozen=True)
class Budget:
    """Training and evaluation budget shared by every method.

    Attributes:
        name: "quick" or "full".
        profile: The run-store profile directory it writes to ("quick" or "fmnist").
        epochs, batch_size, lr: Training (SGD, momentum 0.9, weight decay 5e-4, constant lr).
        n_train: Training images (first ones of the training split; None: all 60,000).
        n_eval: Test images every attack uses (the first ones).
        aa_n: AutoAttack runs on the first ``aa_n`` of them.
        pgd_steps: Steps of the evaluation PGD attacks (step eps / 4, random start).
        seed: Training seed of every run (and the evaluation's attack seed 0).
        dataset: Training and test set (Fashion-MNIST; tests use "digits-28").
    """

    name: str
    profile: str
    epochs: int
    batch_size: int
    lr: float
    n_train: int | None
    n_eval: int
    aa_n: int
    pgd_steps: int
    seed: int = 0
    dataset: str = "fashion-mnist"


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick", "quick", 2, 64, 0.05, 8000, 500, 200, 20),
    "full": Budget("full", "fmnist", 20, 128, 0.05, None, 10000, 1000, 50),
}


@dataclass(frozen=True)
class Entry:
    """One method of the comparison.

    Attributes:
        family: "natural" or "adversarial".
        label: Name in the leaderboard (e.g. "TRADES+LTD").
        method: Registered ``METHODS`` name.
        package: Distribution that registers it ("core" or a paper package).
        opts: Method options (eps, steps, ... filled in by :func:`method_options`).
        model: Architecture (LeNet-5 unless the method needs its package's variant).
        deviations: What differs from the common setting, and why.
        needs: Run dependencies, role -> run id (LTD's teacher).
    """

    family: str
    label: str
    method: str
    package: str
    opts: dict[str, Any] = field(default_factory=dict)
    model: str = "lenet5"
    deviations: tuple[str, ...] = ()
    needs: dict[str, str] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """Run id in the store, e.g. "adv-trades-ltd"."""
        slug = "".join(c if c.isalnum() else "-" for c in self.label.lower()).strip("-")
        return f"{'nat' if self.family == NATURAL else 'adv'}-{slug}"


_AT = {"eps": EPS, "alpha": ALPHA, "steps": STEPS}
ENTRIES: tuple[Entry, ...] = (
    Entry(NATURAL, "CE", "natural", "core"),
    Entry(NATURAL, "Label smoothing", "label-smoothing", "core", {"smoothing": 0.1}),
    Entry(NATURAL, "PC", "pcloss/pc", "pcloss", {"xi": 0.995, "lam": 0.05}),
    Entry(
        NATURAL,
        "I-SCE",
        "isce/isce",
        "isce",
        {"s": 1.0, "m": 0.1},
        model="isce/lenet5",
        deviations=("model isce/lenet5: LeNet-5 with the I-SCE normalised head (sec. 3.2)",),
    ),
    Entry(
        NATURAL,
        "MDL",
        "ctr/mdl",
        "ctr",
        {"K": 4, "p": 0.5, "rho": 1.0, "eta": 90.0},
        deviations=("LeNet-5 fc layers become a K = 4 sample dropout head (CTR eq. 6)",),
    ),
    Entry(ADVERSARIAL, "Madry-AT", "madry-at", "core", dict(_AT)),
    Entry(ADVERSARIAL, "TRADES", "trades", "core", {**_AT, "beta": 6.0}),
    Entry(ADVERSARIAL, "CTR (Madry-AT)", "ctr/madry-at", "ctr", {**_AT, "gamma": 2.0}),
    Entry(ADVERSARIAL, "CTR (TRADES)", "ctr/trades", "ctr", {**_AT, "beta": 6.0, "gamma": 2.0}),
    Entry(
        ADVERSARIAL,
        "TRADES+LTD",
        "ltd/trades-ltd",
        "ltd",
        {**_AT, "beta": 6.0, "tau": 5.0},
        deviations=(f"teacher: the natural CE run ({TEACHER}), trained first",),
        needs={"teacher": TEACHER},
    ),
    Entry(
        ADVERSARIAL,
        "LBGAT",
        "lbgat",
        "core",
        {**_AT, "beta": 0.0, "guide_model": "lenet5"},
        deviations=("guide model LeNet-5, trained jointly (the method's second network)",),
    ),
    Entry(
        ADVERSARIAL,
        "D2R-CAG",
        "d2r/d2r-cag",
        "d2r",
        {**_AT, "guide_model": "lenet5"},
        deviations=("guide model LeNet-5, trained jointly; collaborative adversarial examples",),
    ),
    Entry(
        ADVERSARIAL,
        "PC+AT",
        "pcloss/pc-at",
        "pcloss",
        {
            "xi": 0.995,
            "lam": 0.05,
            "attack": "pgd",
            "eps_range": (EPS, EPS),
            "steps": STEPS,
            "step_scale": 2.5,
        },
        deviations=("1:1 clean:adversarial minibatches (the method's definition)",),
    ),
)


@dataclass(frozen=True)
class PlannedRun:
    """One row of the plan: an entry, whether its method is installed, and its run."""

    entry: Entry
    installed: bool
    spec: RunSpec | None

    @property
    def status(self) -> str:
        """ "planned" or "not installed"."""
        return "planned" if self.installed else "not installed"


def eval_suite(budget: Budget) -> Suite:
    """One evaluation for all: PGD with CE and with the CW margin loss at eps 0.1 Linf.

    Independent mode (every attack on every clean-correct image), so the strongest-minus-weakest
    gap is meaningful; AutoAttack standard runs beside it on the first ``aa_n`` images.
    """
    common = {"eps": EPS, "alpha": EPS / 4, "steps": budget.pgd_steps, "random_start": True}
    return Suite(
        "compare-linf-0.1",
        [
            AttackSpec("PGD-CE", "pgd", {**common, "loss": "ce"}),
            AttackSpec("PGD-margin", "pgd", {**common, "loss": "cw"}),
        ],
        worst_case=False,
    )


def _config(entry: Entry, budget: Budget) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "dataset": budget.dataset,
            "model": entry.model,
            "method": entry.method,
            "method_opts": dict(entry.opts),
            "epochs": budget.epochs,
            "batch_size": budget.batch_size,
            "optimizer": "sgd",
            "lr": budget.lr,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "schedule": "constant",
            "seed": budget.seed,
            "n_train": budget.n_train,
            "augment": False,
        }
    )


def build_plan(
    budget: str | Budget = "quick",
    installed: Callable[[], Sequence[str]] | None = None,
    entries: Sequence[Entry] = ENTRIES,
) -> list[PlannedRun]:
    """Every entry with its RunSpec (None when the method's package is not installed).

    Args:
        budget: "quick", "full" or a :class:`Budget`.
        installed: Returns the registered method names (default: ``METHODS.names()``, which
            loads the installed paper packages); tests pass a fake.
        entries: The methods (default :data:`ENTRIES`).

    Raises:
        ConfigError: unknown budget name, or an entry whose dependency is not in the plan.
    """
    b = budget if isinstance(budget, Budget) else get_budget(budget)
    if installed is None:
        from robustlab.core.train import METHODS

        installed = METHODS.names
    names = set(installed())
    ids = {e.run_id for e in entries}
    out: list[PlannedRun] = []
    for entry in entries:
        missing = [d for d in entry.needs.values() if d not in ids]
        if missing:
            raise ConfigError(f"compare entry {entry.label!r} needs runs {missing} not in the plan")
        ok = entry.method in names and all(
            next(e for e in entries if e.run_id == d).method in names for d in entry.needs.values()
        )
        spec = None
        if ok:
            spec = RunSpec(
                entry.run_id,
                (_config(entry, b),),
                eval_suite(b),
                n_eval=b.n_eval,
                needs=dict(entry.needs),
                autoattack=True,
                autoattack_n=b.aa_n,
            )
        out.append(PlannedRun(entry, ok, spec))
    return out


def get_budget(name: str) -> Budget:
    """The :class:`Budget` called ``name``; ConfigError listing the valid ones otherwise."""
    if name not in BUDGETS:
        raise ConfigError(f"unknown comparison budget {name!r}; valid: {', '.join(BUDGETS)}")
    return BUDGETS[name]


def plan_rows(plan: Sequence[PlannedRun]) -> list[dict[str, Any]]:
    """The plan as data (one dict per method): family, label, method, package, status, model,
    run id, options and deviations."""
    return [
        {
            "family": p.entry.family,
            "label": p.entry.label,
            "method": p.entry.method,
            "package": p.entry.package,
            "status": p.status,
            "model": p.entry.model,
            "run": p.entry.run_id,
            "options": dict(p.entry.opts),
            "deviations": list(p.entry.deviations),
        }
        for p in plan
    ]
