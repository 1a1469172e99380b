"""Tables of the paper's studies that it describes but does not print as a table.

Table ids (keys of a profile's ``columns``, value: the dataset keys it covers, e.g. ``("FMNIST",)``):

- ``"A"``: the lambda = 0 ablation — PC loss without the logit constraint (eq. 6 alone) beside
  PC + LC (eq. 16) and CE, under the paper's PGD-40 and robustlab's CW-Linf. The section "The
  Logit Constraints" argues that both parts are needed: PC enlarges the probability gap, the
  constraint keeps it from being crossed by a small perturbation.
- ``"F2"``: Fig. 2's motivation study on Fashion-MNIST (the paper: CIFAR-10/100): the clean
  probability rank of the class newly fooled examples land in, FGSM and MIM on an eps grid
  (analysis ``pcloss/adv-rank``).
- ``"G"``: the probability-gap statistics (introduction / section 3): mean ``p_y - max p_j`` and
  logit gap ``z_y - max z_j`` on the test images (analysis ``pcloss/prob-gap``).

No cell has a paper value. Each table's claims (:func:`study_claims`) state the paper's reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from robustlab.core.repro import Cell, Claim, Comparison
from robustlab.pcloss import analyses as _analyses  # noqa: F401 - registers pcloss/adv-rank, ...
from robustlab.pcloss.analyses import RANKS
from robustlab.pcloss.defaults import model_for
from robustlab.pcloss.suites import margin_specs, row_spec

if TYPE_CHECKING:
    from robustlab.pcloss.tables import _Builder

__all__ = ["STUDY_TITLES", "add_study", "study_claims"]

STUDY_TITLES = {
    "A": "Ablation (robustlab): PC without the logit constraint (lambda = 0) vs PC + LC vs CE",
    "F2": "Fig. 2 (robustlab table): clean-probability rank of the class newly fooled examples "
    "land in (% of newly fooled, summed over the eps grid)",
    "G": "Section 3 statistics (robustlab table): mean probability / logit gap, true class vs "
    "most probable false class, test images",
}
ABLATION_EPS = ("0.1", "0.2", "0.3")
LAM0 = "Ours (lam=0)"
_FIG2_ATTACKS = ("FGSM", "MIM")


def add_study(b: _Builder, table: str, ds: str) -> None:
    """Add the cells (and the runs' attacks / analyses) of study ``table`` on dataset ``ds``."""
    cells = b.cells.setdefault(table, [])
    if table == "A":
        pgd = [row_spec(f"PGD eps={e}", b.profile.attacks) for e in ABLATION_EPS]
        cw = [s for s in margin_specs(ABLATION_EPS, b.profile.attacks) if s.attack == "cw-linf"]
        for method in ("CE", "Ours", LAM0):
            column = f"{ds}/{method}"
            rid = b.use(model_for(column), None)
            cells.append(Cell(table, "Clean", column, rid, "clean_acc", None, kind="clean"))
            for spec in pgd + cw:
                b.use(model_for(column), spec)
                cells.append(Cell(table, spec.label, column, rid, f"acc/{spec.label}", None))
    elif table == "F2":
        for method in ("CE", "Ours"):
            column = f"{ds}/{method}"
            rid = b.analyse(model_for(column), "pcloss/adv-rank")
            for attack in _FIG2_ATTACKS:
                for label in (*RANKS, "n"):
                    metric = f"rank/{attack}/{label}"
                    row = f"{attack}: {label} most probable" if label != "n" else f"{attack}: n"
                    cells.append(Cell(table, row, column, rid, metric, None, kind="other"))
    elif table == "G":
        for method in ("CE", "Ours", LAM0):
            column = f"{ds}/{method}"
            rid = b.analyse(model_for(column), "pcloss/prob-gap")
            for row, metric in (("probability gap", "gap/prob"), ("logit gap", "gap/logit")):
                cells.append(Cell(table, row, column, rid, metric, None, kind="other"))
    else:
        raise KeyError(f"unknown PC-loss study table {table!r}; known: {sorted(STUDY_TITLES)}")


def study_claims(table: str, cells: list[Cell]) -> list[Claim]:
    """The paper's reading of each study, as claims over the cells present."""
    refs = {c.ref for c in cells}
    datasets = list(dict.fromkeys(c.column.split("/")[0] for c in cells))
    out: list[Claim] = []
    for ds in datasets:

        def comps(
            pairs: list[tuple[str, str, str, str]], op: str = ">", ds: str = ds
        ) -> list[Comparison]:
            got = []
            for lrow, lcol, rrow, rcol in pairs:
                lhs, rhs = (table, lrow, f"{ds}/{lcol}"), (table, rrow, f"{ds}/{rcol}")
                if lhs in refs and rhs in refs:
                    got.append(Comparison(lhs, op, rhs))  # type: ignore[arg-type]
            return got

        slug = ds.lower()
        if table == "A":
            rows = [f"{a} eps={e}" for a in ("PGD", "CW-Linf") for e in ABLATION_EPS]
            c = comps([(r, "Ours", r, LAM0) for r in rows])
            text = f"{ds}: the logit constraint adds robustness: Ours > Ours (lam=0) under PGD / CW-Linf"
            out += [Claim(f"a-{slug}-lc-adds-robustness", text, table, tuple(c))] if c else []
            c = comps([(r, LAM0, r, "CE") for r in rows])
            text = f"{ds}: PC alone (lam=0) > CE under PGD / CW-Linf"
            out += [Claim(f"a-{slug}-pc-alone-gt-ce", text, table, tuple(c))] if c else []
        elif table == "F2":
            for attack in _FIG2_ATTACKS:
                second = f"{attack}: 2nd most probable"
                others = [f"{attack}: {r} most probable" for r in RANKS[1:]]
                c = comps([(second, "CE", o, "CE") for o in others])
                text = (
                    f"{ds}/CE, {attack}: newly fooled examples land most often in the 2nd most "
                    "probable clean class (Fig. 2)"
                )
                out += (
                    [Claim(f"f2-{slug}-{attack.lower()}-2nd", text, table, tuple(c))] if c else []
                )
        elif table == "G":
            c = comps([("probability gap", "Ours", "probability gap", "CE")])
            text = f"{ds}: PC enlarges the mean probability gap (Ours > CE)"
            out += [Claim(f"g-{slug}-prob-gap", text, table, tuple(c))] if c else []
            c = comps([("logit gap", "Ours", "logit gap", LAM0)], op="<")
            text = f"{ds}: the logit constraint keeps the logit gap small (Ours < Ours (lam=0))"
            out += [Claim(f"g-{slug}-logit-gap", text, table, tuple(c))] if c else []
    return out
