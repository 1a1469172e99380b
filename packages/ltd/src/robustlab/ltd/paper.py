"""LTD's identity, tables, claims and profiles: ``PAPER`` (entry point ``robustlab.papers: ltd``).

Importing this module registers the package's objective (``ltd/soft-ce``), methods
(``ltd/trades-ltd``, ``ltd/awp-ltd``), model (``ltd/lenet5-bn``) and Table 4's attack stages
(``ltd/aa-*``). Claims are data (orderings between cells); core decides holds / fails /
inconclusive and adds the AutoAttack-standard verdict beside every robustness claim.
"""

from __future__ import annotations

import argparse

from robustlab.core.repro import Cell, Claim, Comparison, Paper, Plan, Profile, TableSpec
from robustlab.ltd import methods as _methods  # noqa: F401 - registers ltd/trades-ltd, ltd/awp-ltd
from robustlab.ltd import models as _models  # noqa: F401 - registers ltd/lenet5-bn
from robustlab.ltd import objectives as _objectives  # noqa: F401 - registers ltd/soft-ce
from robustlab.ltd.defaults import PROFILES
from robustlab.ltd.tables import (
    TABLE1_RUNS,
    TABLE4_COLUMNS,
    TABLE_TITLES,
    ltd_run,
    runs,
    tau_row,
)

__all__ = ["PAPER", "LTDPaper"]

T4_ROW = "TRADES + LTD"


def _both(paper: LTDPaper, table: str, row: str, run: str) -> list[Cell]:
    """acc_nat (clean) and acc_AA (worst case of the AutoAttack trace) of ``run``."""
    return [
        paper.cell(table, row, "acc_nat", run, "clean_acc", kind="clean"),
        paper.cell(table, row, "acc_AA", run, "worst_case_acc"),
    ]


def _cmp(
    table: str, lhs: tuple[str, str], op: str, rhs: tuple[str, str], margin: float = 0.0
) -> Comparison:
    return Comparison((table, *lhs), op, (table, *rhs), margin)  # type: ignore[arg-type]


def _not_rerun(paper: LTDPaper, table: str, rerun: set[str]) -> str:
    rows: dict[str, list[str]] = {}
    for c in paper.published:
        if c.table == table and c.row not in rerun:
            rows.setdefault(c.row, []).append(f"{c.column} {c.raw}")
    items = "; ".join(f"{r}: {', '.join(v)}" for r, v in rows.items())
    return f"Paper's values, not re-run: {items}." if items else ""


class LTDPaper(Paper):
    """Chen & Lee: LTD, Low Temperature Distillation for gradient-masking-free AT (arXiv 2021)."""

    name = "ltd"
    title = "LTD: Low Temperature Distillation for Gradient Masking-free Adversarial Training"
    authors = "Erh-Chung Chen, Che-Rung Lee"
    venue = "arXiv:2111.02331"
    url = "https://arxiv.org/abs/2111.02331"
    profiles = PROFILES

    def plan(self, profile: Profile) -> Plan:
        """Tables 1 (paper profile), 4, 5 (fmnist, paper) and 6 with their claims and runs."""
        analog = (
            ""
            if profile.name == "paper"
            else "Analog: BatchNorm LeNet-5 on Fashion-MNIST at eps 0.1 (the paper: WRN-34-10, "
            "CIFAR-10, eps 8/255). "
        )
        builders = {"1": self._table1, "4": self._table4, "5": self._table5, "6": self._table6}
        tables = [builders[t](profile, analog) for t in profile.tables]
        return Plan(tables, runs(profile))

    def _table1(self, profile: Profile, analog: str) -> TableSpec:
        cells = [c for row, run in TABLE1_RUNS.items() for c in _both(self, "1", row, run)]
        ltd, trades = "TRADES + LTD (WRN-34-10)", "TRADES (Zhang et al., 2019b) (WRN-34-10)"
        awp_ltd, awp = "AWP + LTD (WRN-34-10)", "AWP (Wu et al., 2020) (WRN-34-10)"
        claims = (
            Claim(
                "t1-ltd-beats-trades",
                "TRADES + LTD > TRADES under AutoAttack (5.1)",
                "1",
                (_cmp("1", (ltd, "acc_AA"), ">", (trades, "acc_AA")),),
            ),
            Claim(
                "t1-awp-ltd-beats-awp",
                "AWP + LTD > AWP under AutoAttack (5.1)",
                "1",
                (_cmp("1", (awp_ltd, "acc_AA"), ">", (awp, "acc_AA")),),
            ),
            Claim(
                "t1-clean-comparable",
                "LTD keeps clean accuracy (>= baseline - 1.5)",
                "1",
                (
                    _cmp("1", (ltd, "acc_nat"), ">=", (trades, "acc_nat"), -1.5),
                    _cmp("1", (awp_ltd, "acc_nat"), ">=", (awp, "acc_nat"), -1.5),
                ),
            ),
        )
        note = (
            analog
            + _not_rerun(self, "1", set(TABLE1_RUNS))
            + (
                " Tables 2 (CIFAR-100) and 3 (ImageNet) are not re-run (cost); their values and "
                "claims are in the package README."
            )
        )
        return TableSpec("1", TABLE_TITLES["1"], tuple(cells), claims, note)

    def _table4(self, profile: Profile, analog: str) -> TableSpec:
        run = ltd_run(5.0)
        cells = [self.cell("4", T4_ROW, "acc_nat", run, "clean_acc", kind="clean")]
        cells += [self.cell("4", T4_ROW, col, run, m) for col, m in TABLE4_COLUMNS.items()]
        claims = (
            Claim(
                "t4-square-adds-nothing",
                "No gradient masking: black-box Square breaks <= 0.5 points more after the "
                "white-box attacks (5.2)",
                "4",
                (_cmp("4", (T4_ROW, "acc_square"), ">=", (T4_ROW, "acc_FAB-T"), -0.5),),
            ),
            Claim(
                "t4-apgd-t-adds-little",
                "APGD-T removes <= 5 points after APGD-CE (CE gradients not saturated)",
                "4",
                (_cmp("4", (T4_ROW, "acc_APGD-T"), ">=", (T4_ROW, "acc_APGD-CE"), -5.0),),
            ),
        )
        note = analog + (
            "Cumulative robust accuracy after each attack of AutoAttack standard (standard's "
            "settings, one attack per stage, each on the examples still robust), tau 5."
        )
        return TableSpec("4", TABLE_TITLES["4"], tuple(cells), claims, note)

    def _table5(self, profile: Profile, analog: str) -> TableSpec:
        cells = [c for o in profile.bn_orders for c in _both(self, "5", o, ltd_run(5.0, o))]
        claims = (
            Claim(
                "t5-order-irrelevant",
                "nat-adv and adv-nat within 1 point under AA (5.3.1)",
                "5",
                (
                    _cmp("5", ("nat-adv", "acc_AA"), ">=", ("adv-nat", "acc_AA"), -1.0),
                    _cmp("5", ("adv-nat", "acc_AA"), ">=", ("nat-adv", "acc_AA"), -1.0),
                ),
            ),
            Claim(
                "t5-single-collapses",
                "Updating BN with one kind of data only collapses clean accuracy (> 20 points)",
                "5",
                (
                    _cmp("5", ("nat", "acc_nat"), "<", ("nat-adv", "acc_nat"), 20.0),
                    _cmp("5", ("adv", "acc_nat"), "<", ("nat-adv", "acc_nat"), 20.0),
                ),
            ),
        )
        note = analog + "tau 5; the non-updating pass uses the running statistics."
        return TableSpec("5", TABLE_TITLES["5"], tuple(cells), claims, note)

    def _table6(self, profile: Profile, analog: str) -> TableSpec:
        taus = sorted(profile.taus)
        cells = _both(self, "6", "TRADES", "trades")
        cells += [c for t in taus for c in _both(self, "6", tau_row(t), ltd_run(t))]
        low = [t for t in taus if t <= 10.0]
        high = max(taus)
        t5 = tau_row(5.0)
        claims = [
            Claim(
                "t6-ltd-beats-trades",
                "TRADES + LTD (tau 5) > TRADES under AutoAttack",
                "6",
                (_cmp("6", (t5, "acc_AA"), ">", ("TRADES", "acc_AA")),),
            ),
            Claim(
                "t6-clean-comparable",
                "TRADES + LTD (tau 5) keeps clean accuracy (>= TRADES - 1.5)",
                "6",
                (_cmp("6", (t5, "acc_nat"), ">=", ("TRADES", "acc_nat"), -1.5),),
            ),
            Claim(
                "t6-every-low-tau-beats-trades",
                "Every tau in [1, 10] beats TRADES under AA",
                "6",
                tuple(_cmp("6", (tau_row(t), "acc_AA"), ">", ("TRADES", "acc_AA")) for t in low),
            ),
        ]
        if high > 10.0:
            claims.append(
                Claim(
                    "t6-high-tau-collapses",
                    f"tau {high:g} loses > 5 points of AA accuracy against tau 5 (5.3.2)",
                    "6",
                    (_cmp("6", (tau_row(high), "acc_AA"), "<", (t5, "acc_AA"), 5.0),),
                )
            )
        note = analog + (
            "acc_AA = worst case of the AutoAttack trace. The TRADES row is re-run with the same "
            "attack, BN mode and single clean forward as LTD (only the natural term differs). "
            "The paper's 'T=5.0' acc_nat 86.20 differs from 85.63 in Tables 1, 4, 5 (as printed)."
        )
        return TableSpec("6", TABLE_TITLES["6"], tuple(cells), tuple(claims), note)

    def cli(self, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        """``robustlab ltd tau-search``: section 4.3's two-step temperature search."""
        from robustlab.ltd.cli import add_tau_search

        add_tau_search(self, subparsers)


PAPER = LTDPaper()
