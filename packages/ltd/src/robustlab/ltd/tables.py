"""Which run and metric fill each printed cell of LTD's Tables 1, 4, 5 and 6, and the runs.

Every student's evaluation is Table 4's trace: a worst-case suite of AutoAttack standard's four
attacks (``ltd/aa-apgd-ce``, ``ltd/aa-apgd-t``, ``ltd/aa-fab-t``, ``ltd/aa-square``) with standard's
settings, so ``acc/<stage>`` are the cumulative accuracies of Table 4 and ``worst_case_acc`` is
acc_AA (the metric of every acc_AA cell). Core also runs AutoAttack standard itself on the same
images (the verdicts' second opinion), so acc_AA is measured twice by two code paths.

Run ids: ``teacher`` (helper), ``trades``, ``ltd-t<tau>`` (nat-adv), ``ltd-t5-<order>`` (Table 5's
other orders), ``awp``, ``awp-ltd`` (paper profile).
"""

from __future__ import annotations

from typing import Any

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import Profile, RunSpec
from robustlab.ltd import attacks as _attacks  # noqa: F401 - registers ltd/aa-*
from robustlab.ltd.defaults import student_preset, teacher_preset

__all__ = [
    "TABLE1_RUNS",
    "TABLE4_COLUMNS",
    "TABLE_TITLES",
    "TRACE_LABELS",
    "ltd_run",
    "runs",
    "tau_row",
    "trace_suite",
]

#: Table 4's columns -> the trace suite's labels (cumulative accuracies).
TRACE_LABELS = {"apgd-ce": "APGD-CE", "apgd-t": "APGD-T", "fab-t": "FAB-T", "square": "Square"}
TABLE4_COLUMNS = {
    "acc_APGD-CE": "acc/APGD-CE",
    "acc_APGD-T": "acc/APGD-T",
    "acc_FAB-T": "acc/FAB-T",
    "acc_square": "acc/Square",
}

#: Table 1 rows we re-run in the paper profile -> run id.
TABLE1_RUNS = {
    "TRADES + LTD (WRN-34-10)": "ltd-t5",
    "TRADES (Zhang et al., 2019b) (WRN-34-10)": "trades",
    "AWP + LTD (WRN-34-10)": "awp-ltd",
    "AWP (Wu et al., 2020) (WRN-34-10)": "awp",
}

TABLE_TITLES = {
    "1": "CIFAR-10 WRN: TRADES/AWP +- LTD vs RobustBench (clean / AutoAttack accuracy)",
    "2": "CIFAR-100 vs RobustBench",
    "3": "ImageNet vs RobustBench",
    "4": "AutoAttack per-attack cumulative robust accuracy of TRADES + LTD (no gradient masking)",
    "5": "BatchNorm update order of TRADES + LTD",
    "6": "Teacher temperature tau of TRADES + LTD",
}


def trace_suite(eps: float) -> Suite:
    """AutoAttack standard's attacks one per stage, worst case (Table 4's trace)."""
    specs = [
        AttackSpec(label, f"ltd/aa-{stage}", {"eps": eps}) for stage, label in TRACE_LABELS.items()
    ]
    return Suite("ltd/aa-trace", specs, worst_case=True)


def tau_row(tau: float) -> str:
    """Table 6's row name of ``tau`` ("T=5.0")."""
    return f"T={float(tau):.1f}"


def ltd_run(tau: float, order: str = "nat-adv") -> str:
    """Run id of the TRADES + LTD student at ``tau`` and BN ``order``."""
    base = f"ltd-t{float(tau):g}"
    return base if order == "nat-adv" else f"{base}-{order}"


def runs(profile: Profile) -> dict[str, RunSpec]:
    """Every run of ``profile``: the teacher, TRADES, one LTD student per tau and BN order, AWP."""
    suite = trace_suite(profile.eps)
    n = profile.n_eval
    teacher = RunSpec("teacher", (teacher_preset(profile).train_config(),), None, n)
    out = {"teacher": teacher}

    def student(rid: str, tables: str, expected: str, tau: float | None, **kw: Any) -> None:
        preset = student_preset(profile, tau=tau, tables=tables, expected=expected, **kw)
        needs = {"teacher": "teacher"} if tau is not None else {}
        # the trace's worst case IS AutoAttack standard: core reads its AA verdicts from it
        out[rid] = RunSpec(
            rid, (preset.train_config(),), suite, n, needs=needs, autoattack_from="worst_case"
        )

    t1 = "1,6" if "1" in profile.tables else "6"
    student("trades", t1, "Table 6 TRADES acc_AA 53.08 (Table 1: 84.92 / 53.08)", None)
    for tau in sorted(set(profile.taus) | {5.0}):
        exp = f"Table 6 T={tau:.1f}; at tau 5 also Table 4's trace and Table 5 nat-adv (85.63 / 55.09)"
        student(ltd_run(tau), "4,5,6" if tau == 5.0 else "6", exp, tau)
    for order in profile.bn_orders:
        if order != "nat-adv":
            student(ltd_run(5.0, order), "5", f"Table 5 row {order}", 5.0, bn_order=order)
    if profile.awp:
        student("awp", "1", "Table 1 AWP (Wu et al., 2020) 85.36 / 56.17", None, awp=True)
        student("awp-ltd", "1", "Table 1 AWP + LTD 85.21 / 56.90", 5.0, awp=True)
    return out
