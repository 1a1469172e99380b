"""The CTR paper for robustlab's reproduction framework: ``PAPER`` (entry point
``robustlab.papers: ctr``).

Importing this module registers the package's training methods (``ctr/mdl``, ``ctr/madry-at``,
...), attacks (``ctr/s-pgd``, ...), attack losses and analyses in the core registries.

The published values come from the package's copy of the verified transcription
``tables/ctr.csv`` (1,251 cells, ``data/ctr.csv``, loaded by core's ``Paper``), never retyped. The paper's claims are data: orderings between
cells, checked on our measured values and on the printed ones.
"""

from __future__ import annotations

from robustlab.core.repro import Cell, Claim, Comparison, Paper, Plan, Profile, TableSpec
from robustlab.ctr import analyses as _analyses  # noqa: F401 - registers the analyses
from robustlab.ctr import at as _at  # noqa: F401 - registers ctr/madry-at, ...
from robustlab.ctr import attacks as _attacks  # noqa: F401 - registers ctr/s-pgd, ...
from robustlab.ctr import trainer as _trainer  # noqa: F401 - registers ctr/mdl, ...
from robustlab.ctr.defaults import PROFILES
from robustlab.ctr.tables import FIG4_ROWS, build, parse_at_row

__all__ = ["PAPER", "CTRPaper", "claims_for"]

TITLES = {
    "1": "Clean accuracy of MDL, MDL-PCC and six regularisers",
    "2": "MDL combined with DropConnect, label smoothing and online label smoothing",
    "3": "Mean accuracy of three runs (Cyclic)",
    "4": "Wrong-class probabilities below the theoretical CT 1/(C-1), test set",
    "5": "TRADES with and without CTR",
    "6": "Fast-AT, Free-AT and Madry-AT with and without CTR",
    "7": "Attack success rate (%) of CE/SCE/KL/SKL/STD-driven attacks",
    "8": "TRADES with and without CTR, more attacks",
    "9": "Fast-AT, Free-AT and Madry-AT with and without CTR, more attacks",
    "fig1": "Fig. 1: clean accuracy of MDL vs eta (FashionMNIST; MC = Cyclic, MM = Multistep)",
    "fig3": "Fig. 3: FGSM/PGD accuracy vs eps of dropout, MSD and MDL (FashionMNIST)",
    "fig4": "Fig. 4: accuracy (%) of the regularisers, MDL and MDL-PCC under APGD, CW-Linf, "
    "Square and AutoAttack vs eps (CIFAR-10 VGG16)",
    "fig5": "Fig. 5: FGSM/PGD accuracy vs eps of DC and DC+MDL (FashionMNIST)",
    "fig6": "Fig. 6: wrong-class probabilities below an empirical CT (FashionMNIST)",
    "fig7": "Fig. 7: attack success rate (%) of SCE-driven PGD vs gamma",
}
MDL = "MDL (ours)"


def _claim(
    cid: str, text: str, table: str, comps: list[Comparison], mode: str = "all"
) -> list[Claim]:
    return [Claim(cid, text, table, tuple(comps), mode)] if comps else []  # type: ignore[arg-type]


def _best_row(cells: list[Cell], table: str, best: str, prefix: str) -> list[Claim]:
    """``best`` above every other row, column by column."""
    out: list[Claim] = []
    for col in dict.fromkeys(c.column for c in cells):
        rows = [c for c in cells if c.column == col]
        if not any(c.row == best for c in rows):
            continue
        comps = [Comparison((table, best, col), ">", c.ref) for c in rows if c.row != best]
        out += _claim(f"{prefix}-{col}", f"{best} is highest in {col}", table, comps)
    return out


def _pairs(
    cells: list[Cell], table: str, pairs: list[tuple[str, str]], text: str, cid: str
) -> list[Claim]:
    """``ours > base`` in every column both rows have."""
    refs = {c.ref for c in cells}
    comps = [
        Comparison((table, ours, c.column), ">", (table, base, c.column))
        for ours, base in pairs
        for c in cells
        if c.row == ours and (table, base, c.column) in refs
    ]
    return _claim(cid, text, table, comps)


def _at_claims(cells: list[Cell], table: str) -> list[Claim]:
    """CTR vs the baseline of the same method (and beta): some gamma raises PGD (Tables 5/6) or
    APGD/MI (8/9); the recommended gamma keeps clean accuracy within 1.5 points (Table 6)."""
    by = {c.ref: c for c in cells}
    out: list[Claim] = []
    groups: dict[tuple[str, float, str], list[Cell]] = {}
    for c in cells:
        base, gamma, beta, _ = parse_at_row(c.row)
        if gamma == 0:
            continue
        groups.setdefault((base, beta, c.column), []).append(c)
    for (base, beta, col), ctr_cells in groups.items():
        metric = col.split("/")[1]
        if metric not in ("PGD", "APGD", "MI", "FGSM"):
            continue
        baseline = next(
            (ref for ref in by if ref[2] == col and parse_at_row(ref[1])[:3] == (base, 0.0, beta)),
            None,
        )
        if baseline is None:
            continue
        comps = [Comparison(c.ref, ">", baseline) for c in ctr_cells]
        bt = f" beta={beta:g}" if base == "trades" else ""
        out += _claim(
            f"t{table}-{base}{bt.replace(' ', '-')}-ctr-{col}".replace("/", "-").lower(),
            f"{base}{bt} with CTR beats {base} without CTR on {col} for some gamma",
            table,
            comps,
            "any",
        )
    for c in cells:
        base, gamma, beta, ep = parse_at_row(c.row)
        if table == "6" and gamma == 2.0 and ep != "-" and c.column.endswith("/Natural"):
            baseline = next(
                (r for r in by if r[2] == c.column and parse_at_row(r[1])[:2] == (base, 0.0)), None
            )
            if baseline is not None:
                out += _claim(
                    f"t6-{base}-g2-clean-{c.column.split('/')[0].lower()}",
                    f"{base} with CTR (gamma 2) keeps clean accuracy within 1.5 points ({c.column})",
                    table,
                    [Comparison(c.ref, ">=", baseline, -1.5)],
                )
    return out


def _t7_claims(cells: list[Cell]) -> list[Claim]:
    refs = {c.ref for c in cells}
    out: list[Claim] = []
    std = [
        Comparison(("7", f"{fam}/STD", "NT"), ">", ("7", f"{fam}/CE", "NT"))
        for fam in ("FGSM", "PGD", "APGD")
        if ("7", f"{fam}/STD", "NT") in refs
    ]
    out += _claim(
        "t7-std-beats-ce-nt", "STD attacks beat CE attacks on the naturally trained model", "7", std
    )
    sce = [
        Comparison(c.ref, ">", ("7", c.row.replace("SCE", "CE"), c.column))
        for c in cells
        if c.row.endswith("/SCE") and ("7", c.row.replace("SCE", "CE"), c.column) in refs
    ]
    out += _claim("t7-sce-beats-ce", "SCE attacks beat CE attacks on every model", "7", sce)
    return out


#: The nine regularisers of Fig. 4 (MDL and MDL-PCC, "(ours)", are not among them).
FIG4_OTHERS = tuple(r for r in FIG4_ROWS if not r.endswith("(ours)"))


def _fig4_claims(cells: list[Cell]) -> list[Claim]:
    """Section 5.1.3 on Fig. 4: "Under all white-box attacks (except AutoAttack) and all
    black-box attacks with any attack strength, the accuracy of MDL is significantly greater
    than that of the other regularization methods." One claim per attack (every eps, every
    regulariser); AutoAttack columns are shown without a claim (the paper excepts them)."""
    refs = {c.ref for c in cells}
    by_attack: dict[str, list[Comparison]] = {}
    for c in cells:
        if c.row not in FIG4_OTHERS:
            continue
        attack = c.column.split(" eps=")[0].split("/")[-1]
        mdl = ("fig4", MDL, c.column)
        if attack == "AA" or mdl not in refs:
            continue
        by_attack.setdefault(attack, []).append(Comparison(mdl, ">", c.ref))
    out: list[Claim] = []
    for attack, comps in by_attack.items():
        text = f"MDL is more robust than every other regulariser under {attack} at every eps"
        out += _claim(f"fig4-mdl-robust-{attack.lower()}", text, "fig4", comps)
    return out


def claims_for(table: str, cells: list[Cell]) -> list[Claim]:
    """The paper's claims about ``table``, restricted to the cells present."""
    if table in ("1", "3", "4"):
        return _best_row(cells, table, MDL, f"t{table}-mdl-best")
    if table == "2":
        pairs = [
            ("DC+MDL (ours)", "DC [11]"),
            ("LS+MDL (ours)", "LS [36]"),
            ("OLS+MDL (ours)", "OLS [37]"),
        ]
        return _pairs(
            cells, table, pairs, "MDL improves DC, LS and OLS in every column", "t2-mdl-compatible"
        )
    if table in ("fig3", "fig5"):
        base = [("MDL (ours)", "DO [10]"), ("MDL (ours)", "MSD [13]")]
        if table == "fig5":
            base = [("DC+MDL (ours)", "DC [11]")]
        text = "MDL is more robust than its baselines under FGSM and PGD at every eps"
        return _pairs(cells, table, base, text, f"{table}-mdl-robust")
    if table == "fig4":
        return _fig4_claims(cells)
    if table == "fig6":
        rows = [(MDL, r) for r in dict.fromkeys(c.row for c in cells) if r != MDL]
        text = "MDL has the most wrong-class probabilities below every empirical CT"
        return _pairs(cells, table, rows, text, "fig6-mdl-most-below-ct")
    if table in ("5", "6", "8", "9"):
        return _at_claims(cells, table)
    if table == "fig7":
        cols = sorted({c.column for c in cells}, key=lambda s: float(s.split("=")[1]))
        comps = [
            Comparison(("fig7", row, cols[-1]), ">", ("fig7", row, cols[0]))
            for row in dict.fromkeys(c.row for c in cells)
        ]
        text = "The ASR of SCE-driven PGD grows with gamma (largest gamma > smallest)"
        return _claim("fig7-asr-grows-with-gamma", text, table, comps) if len(cols) > 1 else []
    if table == "7":
        return _t7_claims(cells)
    return []


NOTES = {
    "5": "Time columns are left out (different hardware).",
    "6": "Time columns are left out; rows with epochs '-' use epochs inferred from the printed Time.",
    "3": "The paper prints the mean of 3 seeds; we list each seed (seed 0 is the Table 1 run).",
}


class CTRPaper(Paper):
    """Yang, Lin, Zhang, Yang, Zhao: Confidence Threshold Reduction (arXiv:2206.00913)."""

    name = "ctr"
    title = (
        "Improving the Robustness and Generalization of Deep Neural Network with Confidence "
        "Threshold Reduction"
    )
    authors = "Xiangyuan Yang, Jie Lin, Hanlin Zhang, Xinyu Yang, Peng Zhao"
    venue = "arXiv:2206.00913"
    url = "https://arxiv.org/abs/2206.00913"

    profiles = PROFILES

    def plan(self, profile: Profile) -> Plan:
        """The profile's tables with the paper's claims, and every run they need."""
        p = profile
        cells, runs = build(p, self.published)
        analog = p.name != "paper"
        out = []
        for table, tcells in cells.items():
            note = NOTES.get(table, "")
            if analog and table in ("5", "6", "7", "8", "9"):
                note = (
                    f"Analog: {p.at_model} on {p.at_dataset} at eps {p.at_eps:g} (the paper: "
                    f"ResNet18, CIFAR-10, eps 8/255); printed values shown for reference only. "
                    + note
                ).strip()
            out.append(
                TableSpec(
                    table, TITLES[table], tuple(tcells), tuple(claims_for(table, tcells)), note
                )
            )
        return Plan(out, runs)


PAPER = CTRPaper()
