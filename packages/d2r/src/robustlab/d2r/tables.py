"""Which run and metric fills each cell, per profile, and the evaluation suite.

One run per (dataset key, row); Table 1's ``D2R-CAG (ours)`` and Table 2's ``D2R-CAG (alpha=30,
beta=20)`` are the same run (the paper's own rows are the same model). Every run is evaluated
with one independent-mode suite (every attack on every clean-correct test image, as the paper's
columns are separate attacks), on the same first ``n_eval`` test images, so the verdicts are
McNemar's paired test. Attack labels are the CSV column names, so a metric is ``"acc/" + column``:

* ``PGD-10`` / ``PGD-20`` / ``PGD-50``: core ``pgd`` (CE loss), eps ``eval_eps``, step
  ``eval_step`` (paper: 8/255 and 2/255), random start.
* ``C&W``: core ``cw-linf`` (CW margin loss, Linf PGD), 20 steps, same eps/step, random start
  (the official evaluation's CW-20).
* ``AA``: AutoAttack standard Linf at ``eval_eps``, added by core on the first ``aa_n`` of the
  same images (metric ``aa/Linf eps=<eps>``).
"""

from __future__ import annotations

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import Profile, RunSpec
from robustlab.core.repro.autoattack import aa_metric
from robustlab.d2r.defaults import preset, run_id

__all__ = [
    "NOT_RERUN",
    "T1_COLUMNS",
    "T2_COLUMNS",
    "metric",
    "runs",
    "suite",
    "table1_keys",
    "table1_rows",
    "table2_rows",
]

#: Table 1 columns (suffix after "<dataset>/") and Table 2 columns.
T1_COLUMNS = ("Clean", "PGD-50", "C&W", "AA")
T2_COLUMNS = ("Clean", "PGD-10", "PGD-20", "PGD-50", "C&W", "AA")

#: Table 1 rows whose method robustlab does not have: shown with the paper's value, not re-run.
NOT_RERUN = ("FAT [20]", "GAIRAT [21]", "LAS-AT [5]", "RAT(TRADES) [6]", "SAT [13]")

#: Which re-runnable rows Table 1 prints per dataset key.
_T1_PRINTED: dict[str, tuple[str, ...]] = {
    "CIFAR-10": (
        "PGD-AT [11]",
        "TRADES [18]",
        "MART [15]",
        "AWP [16]",
        "LBGAT [1] (baseline)",
        "D2R-CAG (ours)",
    ),
    "CIFAR-100": (
        "PGD-AT [11]",
        "TRADES [18]",
        "AWP [16]",
        "LBGAT [1] (baseline)",
        "D2R-CAG (ours)",
    ),
    "TinyImageNet^1": ("PGD-AT [11]", "TRADES [18]", "D2R-CAG (ours)"),
    "TinyImageNet^2": ("LBGAT [1] (baseline)", "D2R-CAG (ours)"),
}


def table1_keys(profile: Profile) -> list[tuple[str, str]]:
    """(CSV column key, training dataset key) pairs of Table 1: the analog profiles measure
    the CIFAR-10 columns on Fashion-MNIST."""
    if profile.datasets == ("FMNIST",):
        return [("CIFAR-10", "FMNIST")]
    return [(k, k) for k in profile.datasets]


def table1_rows(profile: Profile, column_key: str) -> list[str]:
    """Re-run rows of Table 1 for a column key (printed there and in the profile)."""
    return [r for r in _T1_PRINTED[column_key] if r in profile.table1]


def table2_rows(profile: Profile) -> list[str]:
    """Rows of Table 2 (the CIFAR-10 ablation) the profile trains."""
    return list(profile.table2)


def table2_key(profile: Profile) -> str | None:
    """Training dataset key of Table 2 ("CIFAR-10" in the paper profile, else "FMNIST")."""
    if profile.datasets == ("FMNIST",):
        return "FMNIST"
    return "CIFAR-10" if "CIFAR-10" in profile.datasets else None


def metric(profile: Profile, column: str) -> str:
    """Metric key of a column (without the dataset prefix)."""
    if column == "Clean":
        return "clean_acc"
    if column == "AA":
        return aa_metric(float(profile.eval_eps), "Linf")
    return f"acc/{column}"


def suite(profile: Profile) -> Suite:
    """Clean + PGD-10/20/50 + C&W-20 at the profile's eps, independent mode."""
    eps, step = float(profile.eval_eps), float(profile.eval_step)
    specs = [
        AttackSpec(f"PGD-{k}", "pgd", {"eps": eps, "alpha": step, "steps": k, "random_start": True})
        for k in (10, 20, 50)
    ]
    specs.append(
        AttackSpec("C&W", "cw-linf", {"eps": eps, "alpha": step, "steps": 20, "random_start": True})
    )
    return Suite(f"d2r/{profile.name}", specs, worst_case=False)


def runs(profile: Profile) -> dict[str, RunSpec]:
    """Every run of the profile: Table 1's re-run rows per dataset and Table 2's ablation."""
    wanted: dict[str, tuple[str, str]] = {}
    for col_key, key in table1_keys(profile):
        for row in table1_rows(profile, col_key):
            wanted.setdefault(run_id(key, row), (key, row))
    t2 = table2_key(profile)
    if t2 is not None:
        for row in table2_rows(profile):
            wanted.setdefault(run_id(t2, row), (t2, row))
    s = suite(profile)
    out: dict[str, RunSpec] = {}
    for rid, (key, row) in wanted.items():
        cfg = preset(profile, key, row).train_config()
        out[rid] = RunSpec(rid, (cfg,), s, profile.n_eval, autoattack_n=profile.aa_n)
    return out
