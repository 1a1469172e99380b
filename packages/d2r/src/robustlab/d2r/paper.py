"""The paper's identity, tables, claims and profiles: ``PAPER`` (entry point ``robustlab.papers: d2r``).

Importing this module registers the package's methods (``d2r/d2r``, ``d2r/d2r-cag``), objective
(``d2r/d2r``), attack (``d2r/cag``) and attack loss (``d2r/cag-kl``). Tables (ids as in the CSV):

* ``1``: D2R-CAG vs the Table 1 rows robustlab can train (PGD-AT, TRADES, MART, AWP, LBGAT) per
  dataset; the rows of methods robustlab lacks (FAT, GAIRAT, LAS-AT, RAT, SAT) are listed in the
  table note with the paper's values, marked "not re-run", and enter no claim.
* ``2``: the ablation over alpha, beta and CAG (CIFAR-10).

The quick and fmnist profiles measure the CIFAR-10 cells on Fashion-MNIST (analog cells: the
paper's value is shown beside ours without a tolerance mark). Core adds AutoAttack standard on the
same images beside every robustness claim (the "AA" columns are those evaluations).
"""

from __future__ import annotations

from typing import Literal

from robustlab.core.repro import Cell, Claim, Comparison, Paper, Plan, Profile, TableSpec
from robustlab.d2r import methods as _methods  # noqa: F401 - registers d2r/d2r, d2r/d2r-cag
from robustlab.d2r.defaults import PROFILES, run_id
from robustlab.d2r.tables import (
    NOT_RERUN,
    T1_COLUMNS,
    T2_COLUMNS,
    metric,
    runs,
    table1_keys,
    table1_rows,
    table2_key,
    table2_rows,
)

__all__ = ["PAPER", "D2RPaper"]

Kind = Literal["robust", "clean", "other"]
LBGAT = "LBGAT [1] (baseline)"
CAG1 = "D2R-CAG (ours)"
CAG2 = "D2R-CAG (alpha=30, beta=20)"
ROBUST1 = ("PGD-50", "C&W", "AA")
ROBUST2 = ("PGD-20", "PGD-50", "C&W", "AA")


def _slug(key: str) -> str:
    return key.lower().replace("^", "").replace("tinyimagenet", "tin").replace("cifar-", "c")


class D2RPaper(Paper):
    """Liu, Liang, Ranjan, Zhu, Snasel, Ojha: D2R (arXiv 2506.07056)."""

    name = "d2r"
    title = (
        "D2R: dual regularization loss with collaborative adversarial generation for model "
        "robustness"
    )
    authors = "Zhenyu Liu, Huizhi Liang, Rajiv Ranjan, Zhanxing Zhu, Vaclav Snasel, Varun Ojha"
    venue = "arXiv 2506.07056, 2025"
    url = "https://arxiv.org/abs/2506.07056"
    profiles = PROFILES

    def _cell(self, p: Profile, table: str, row: str, column: str, run: str, col: str) -> Cell:
        kind: Kind = "clean" if col == "Clean" else "robust"
        value = self.published_value(table, row, column)
        return Cell(table, row, column, run, metric(p, col), value, None, kind, p.name != "paper")

    def plan(self, profile: Profile) -> Plan:
        """Tables 1 and 2 of the profile with their claims, and their runs."""
        tables = [self._table1(profile)]
        t2 = self._table2(profile)
        if t2 is not None:
            tables.append(t2)
        return Plan(tables, runs(profile))

    # ------------------------------------------------------------------ Table 1
    def _table1(self, p: Profile) -> TableSpec:
        cells: list[Cell] = []
        claims: list[Claim] = []
        for col_key, key in table1_keys(p):
            rows = table1_rows(p, col_key)
            for row in rows:
                for col in T1_COLUMNS:
                    cells.append(self._cell(p, "1", row, f"{col_key}/{col}", run_id(key, row), col))
            claims += self._table1_claims(col_key, rows)
        shown = {col_key for col_key, _ in table1_keys(p)}
        not_rerun = []
        for row in NOT_RERUN:
            vals = [
                f"{c.column} {c.raw}"
                for c in self.published
                if c.table == "1" and c.row == row and c.column.split("/")[0] in shown
            ]
            if vals:
                not_rerun.append(f"{row}: {', '.join(vals)}")
        note = (
            "Not re-run (no such method in robustlab; the paper's values, in no claim): "
            + "; ".join(not_rerun)
            + "."
        )
        if p.name != "paper":
            note = (
                "Analog: the CIFAR-10 columns measured on Fashion-MNIST at eps "
                f"{float(p.eval_eps):g} (directions only). " + note
            )
        title = "robustness (%) of D2R-CAG and adversarial-training methods"
        return TableSpec("1", title, tuple(cells), tuple(claims), note)

    def _table1_claims(self, key: str, rows: list[str]) -> list[Claim]:
        def ref(row: str, col: str) -> tuple[str, str, str]:
            return ("1", row, f"{key}/{col}")

        out: list[Claim] = []
        s = _slug(key)
        if CAG1 in rows and LBGAT in rows:
            out.append(
                Claim(
                    f"t1-{s}-cag-gt-lbgat",
                    f"{key}: D2R-CAG > LBGAT under PGD-50, C&W and AA (sec. 4)",
                    "1",
                    tuple(Comparison(ref(CAG1, c), ">", ref(LBGAT, c)) for c in ROBUST1),
                )
            )
            if key in ("CIFAR-10", "CIFAR-100"):
                op: Literal["<", ">"] = "<" if key == "CIFAR-10" else ">"
                word = "loses" if key == "CIFAR-10" else "gains"
                out.append(
                    Claim(
                        f"t1-{s}-cag-clean",
                        f"{key}: D2R-CAG {word} clean accuracy against LBGAT "
                        f"({'85.68 vs 88.22' if key == 'CIFAR-10' else '+1.08'})",
                        "1",
                        (Comparison(ref(CAG1, "Clean"), op, ref(LBGAT, "Clean")),),
                    )
                )
        others = [r for r in rows if r not in (CAG1, LBGAT)]
        best_cols = {"CIFAR-10": ("C&W", "AA"), "CIFAR-100": ROBUST1}.get(key)
        if CAG1 in rows and others and best_cols:
            out.append(
                Claim(
                    f"t1-{s}-cag-best",
                    f"{key}: D2R-CAG above every re-run row under {', '.join(best_cols)}",
                    "1",
                    tuple(
                        Comparison(ref(CAG1, c), ">", ref(r, c))
                        for c in best_cols
                        for r in rows
                        if r != CAG1
                    ),
                )
            )
        if key == "TinyImageNet^1" and CAG1 in rows and others:
            out.append(
                Claim(
                    "t1-tin1-cag-gt-baselines",
                    "TinyImageNet^1: D2R-CAG above PGD-AT and TRADES in every column (it is above "
                    "LAS-AT, the strongest printed row, which is not re-run)",
                    "1",
                    tuple(
                        Comparison(ref(CAG1, c), ">", ref(r, c)) for c in T1_COLUMNS for r in others
                    ),
                )
            )
        return out

    # ------------------------------------------------------------------ Table 2
    def _table2(self, p: Profile) -> TableSpec | None:
        key = table2_key(p)
        if key is None:
            return None
        rows = table2_rows(p)
        cells = [
            self._cell(p, "2", row, col, run_id(key, row), col)
            for row in rows
            for col in T2_COLUMNS
        ]

        def comps(hi: str, lo: str, cols: tuple[str, ...] = ROBUST2) -> tuple[Comparison, ...]:
            return tuple(Comparison(("2", hi, c), ">", ("2", lo, c)) for c in cols)

        claims: list[Claim] = []
        chain = [r for r in ("D2R (alpha=0, beta=1)", "D2R (alpha=20, beta=1)") if r in rows]
        top = "D2R (alpha=30, beta=1)"
        if top in rows and chain:
            claims.append(
                Claim(
                    "t2-alpha-helps",
                    "alpha helps: D2R (30, 1) above " + ", ".join(chain) + " under PGD-20, "
                    "PGD-50, C&W and AA",
                    "2",
                    tuple(c for lo in chain for c in comps(top, lo)),
                )
            )
        if "D2R (alpha=30, beta=20)" in rows and top in rows:
            claims.append(
                Claim(
                    "t2-beta-helps",
                    "beta helps: D2R (30, 20) > D2R (30, 1) under PGD-20, PGD-50, C&W and AA",
                    "2",
                    comps("D2R (alpha=30, beta=20)", top),
                )
            )
        if CAG2 in rows and "D2R (alpha=30, beta=20)" in rows:
            claims.append(
                Claim(
                    "t2-cag-helps",
                    "CAG helps: D2R-CAG (30, 20) > D2R (30, 20) under PGD-20, PGD-50, C&W and AA",
                    "2",
                    comps(CAG2, "D2R (alpha=30, beta=20)"),
                )
            )
            claims.append(
                Claim(
                    "t2-cag-clean-cost",
                    "CAG costs clean accuracy: D2R (30, 20) clean > D2R-CAG clean (86.00 vs 85.68)",
                    "2",
                    comps("D2R (alpha=30, beta=20)", CAG2, ("Clean",)),
                )
            )
        t1_key = table1_keys(p)[0][0]
        if "D2R (alpha=30, beta=20)" in rows and LBGAT in table1_rows(p, t1_key):
            claims.append(
                Claim(
                    "t2-d2r-gt-lbgat",
                    "plain D2R (30, 20), without CAG, > LBGAT (Table 1) under PGD-50, C&W and AA",
                    "2",
                    tuple(
                        Comparison(
                            ("2", "D2R (alpha=30, beta=20)", c), ">", ("1", LBGAT, f"{t1_key}/{c}")
                        )
                        for c in ROBUST1
                    ),
                )
            )
        note = "" if p.name == "paper" else "Analog: Fashion-MNIST at eps 0.1 (directions only)."
        title = "ablation over alpha, beta and CAG (CIFAR-10, WRN-34-10)"
        return TableSpec("2", title, tuple(cells), tuple(claims), note)


PAPER = D2RPaper()
