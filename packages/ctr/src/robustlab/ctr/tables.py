"""Which runs and metrics fill each CTR table and figure, per profile.

:func:`build` returns ``({table id: [Cell, ...]}, {run id: RunSpec})`` for a core
:class:`~robustlab.core.repro.Profile` of :mod:`robustlab.ctr.defaults` and the printed cells. Printed cells keep the CSV's (table, row, column) and
printed value; figure panels (``fig1``, ``fig3``, ``fig5``, ``fig6``) are added tables with no
printed values. Natural-training runs have no attack suite: their clean accuracy is the
engine's test accuracy on the whole test set (``train/clean_acc``) and the curves, counts and
attack study come from the analyses in :mod:`robustlab.ctr.analyses`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, Literal

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.eval.eps import format_eps
from robustlab.core.repro import Cell, Profile, PublishedCell, RunSpec
from robustlab.core.repro.autoattack import aa_metric
from robustlab.ctr.analyses import DEFAULT_CT_THRESHOLDS, ct_key
from robustlab.ctr.defaults import (
    DATASETS,
    NT_EPOCHS,
    PAPER_ETA,
    adversarial_preset,
    natural_preset,
)

__all__ = ["ROW_METHODS", "build"]

Kind = Literal["robust", "clean", "other"]
Index = dict[tuple[str, str, str], PublishedCell]

#: Row labels of Tables 1-4 -> (method, options); MDL rows also get the dataset's eta.
ROW_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "DO [10]": ("dropout", {}),
    "FL [34]": ("focal", {}),
    "DB [12]": ("dropblock", {}),
    "MSD [13]": ("ctr/msd", {}),
    "Disout [14]": ("disout", {}),
    "LR [35]": ("label-relaxation", {}),
    "DC [11]": ("dropconnect", {}),
    "LS [36]": ("label-smoothing", {}),
    "OLS [37]": ("ols", {}),
    "MDL (ours)": ("ctr/mdl", {}),
    "MDL-PCC (ours)": ("ctr/mdl-pcc", {}),
    "DC+MDL (ours)": ("ctr/dc-mdl", {}),
    "LS+MDL (ours)": ("ctr/ls-mdl", {}),
    "OLS+MDL (ours)": ("ctr/ols-mdl", {}),
}
#: Tables 3-4 spell some rows differently.
ALIASES = {"Dropout [10]": "DO [10]", "Dropblock [12]": "DB [12]"}
MODELS = {"MNISTNet": "mnistnet", "VGG16": "vgg16", "ResNet50": "resnet50"}
T34_COLUMNS = {
    "FashionMNIST": "FM",
    "CIFAR10": "C10",
    "FMNIST": "FM",
    "MNIST": "M",
    "CIFAR100": "C100",
}
#: Table 3 trains MNISTNet on FashionMNIST and VGG16 on CIFAR10 (Cyclic); Table 4 uses the same
#: models (VGG16 for CIFAR-100 too; the paper does not say which model Table 4 counts).
T34_MODEL = {"M": "mnistnet", "FM": "mnistnet", "C10": "vgg16", "C100": "vgg16"}
FIG3_ROWS = ("DO [10]", "MSD [13]", "MDL (ours)")
FIG5_ROWS = ("DC [11]", "DC+MDL (ours)")
#: Fig. 4: the nine regularisers, MDL, and MDL-PCC (whose robustness the paper does not plot).
FIG4_ROWS = (
    "DO [10]",
    "DC [11]",
    "DB [12]",
    "MSD [13]",
    "Disout [14]",
    "FL [34]",
    "LR [35]",
    "LS [36]",
    "OLS [37]",
    "MDL (ours)",
    "MDL-PCC (ours)",
)
AT_NAMES = {"Fast-AT": "fast-at", "Free-AT": "free-at", "Madry-AT": "madry-at", "TRADES": "trades"}
AT_EPOCHS = {"fast-at": 50, "free-at": 50, "madry-at": 50, "trades": 200}
T7_COLUMNS = {
    "NT": None,
    "Fast-AT": "fast-at",
    "Free-AT": "free-at",
    "Madry-AT": "madry-at",
    "TR": "trades",
}
T7_LOSSES = {"CE": "ce", "SCE": "ctr/sce", "KL": "kl", "SKL": "ctr/skl", "STD": "ctr/std"}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _eps_label(eps: float) -> str:
    return format_eps(eps)


# ------------------------------------------------------------------------------ attacks


def _pgd(eps: float, steps: int, label: str, loss: str = "ce") -> dict[str, Any]:
    kw: dict[str, Any] = {"eps": eps, "alpha": 2.5 * eps / steps, "steps": steps}
    if loss != "ce":
        kw["loss"] = loss
    return AttackSpec(label, "pgd", kw).to_dict()


def curve_attacks(p: Profile) -> list[dict[str, Any]]:
    """Fig. 3-5: FGSM at every eps, PGD-k at every eps (the quick profile: eps <= 8/255)."""
    out = [
        AttackSpec(f"FGSM eps={_eps_label(e)}", "fgsm", {"eps": e}).to_dict() for e in p.curve_eps
    ]
    pgd_eps = [e for e in p.curve_eps if p.name != "quick" or e <= 8 / 255 + 1e-9]
    out += [
        _pgd(e, p.curve_pgd_steps, f"PGD-{p.curve_pgd_steps} eps={_eps_label(e)}") for e in pgd_eps
    ]
    return out


#: The TRADES start of KL-objective attacks: x + 0.001 N(0, 1). KL(p(x) || p(x')) and its
#: gradient are 0 at x' = x, so an attack starting there does not move (FGSM/KL would be a no-op;
#: the paper's FGSM/KL success rate of 26.45 % on the NT model implies a perturbed start).
KL_START: dict[str, Any] = {"random_start": True, "init": "normal", "init_std": 0.001}
#: Attack losses whose value and gradient vanish at x' = x.
KL_LOSSES = ("kl", "ctr/skl")


def t7_attacks(p: Profile, eps: float) -> list[dict[str, Any]]:
    """Table 7: FGSM / PGD / APGD maximising CE, SCE (gamma 5), KL, SKL (gamma 1), STD.

    KL and SKL attacks (FGSM and PGD) start from x + 0.001 N(0, 1) (:data:`KL_START`, TRADES);
    FGSM keeps its step alpha = eps.
    """
    out = []
    for fam in ("FGSM", "PGD", "APGD"):
        if fam == "APGD" and not p.t7_apgd:
            continue
        for row, loss in T7_LOSSES.items():
            if row not in p.t7_losses:
                continue
            label = f"{fam}/{row}"
            start = KL_START if loss in KL_LOSSES else {}
            if fam == "FGSM":
                kw = {"eps": eps, "loss": loss} | ({"alpha": eps, **start} if start else {})
                out.append(AttackSpec(label, "fgsm", kw).to_dict())
            elif fam == "PGD":
                spec = _pgd(eps, p.t7_pgd_steps, label, loss)
                spec["kwargs"] |= start
                out.append(spec)
            else:
                out.append(
                    AttackSpec(label, "apgd-ce", {"eps": eps, "steps": 100, "loss": loss}).to_dict()
                )
    steps = p.t7_pgd_steps
    for g in p.fig7_gammas:  # Fig. 7: SCE-driven PGD for a range of gamma
        kw = {"eps": eps, "alpha": 2.5 * eps / steps, "steps": steps, "gamma": g}
        out.append(AttackSpec(f"PGD/SCE gamma={g:g}", "ctr/sce-pgd", kw).to_dict())
    return out


def at_suite(p: Profile) -> Suite:
    """Tables 5/6 (Natural, FGSM, PGD-20) and, when asked, Tables 8/9's white-box attacks."""
    e = p.at_eps
    specs = [AttackSpec("FGSM", "fgsm", {"eps": e}), AttackSpec.from_dict(_pgd(e, 20, "PGD"))]
    if p.at_extra_attacks:
        specs += [
            AttackSpec("MI", "mifgsm", {"eps": e, "alpha": e / 10, "steps": 10}),
            AttackSpec("APGD", "apgd-ce", {"eps": e, "steps": 100}),
            AttackSpec(
                "PGD-SCE", "ctr/sce-pgd", {"eps": e, "alpha": e / 8, "steps": 20, "gamma": 5.0}
            ),
            AttackSpec("CW-inf", "cw-linf", {"eps": e, "alpha": 0.01, "steps": 10}),
        ]
    return Suite(f"ctr/at-{p.name}", specs, worst_case=False)


#: Metric prefixes of the analyses (every analysis metric is namespaced: core refuses a run whose
#: metric names collide, e.g. an analysis' clean accuracy over the evaluation's ``clean_acc``).
CURVE, T7, FIG4_WB, FIG4_BB, BLACKBOX = "curve/", "t7/", "fig4/", "fig4bb/", "bb/"
#: Fig. 4: VGG16 on CIFAR-10 in the paper; the fmnist profile's analog uses MNISTNet on
#: Fashion-MNIST (cells ``analog=True``).
FIG4_MODEL = {"C10": "vgg16", "FM": "mnistnet"}
FIG4_WHITE = ("APGD", "CW-inf")
FIG4_BLACK = ("Square", "AA")


def fig4_attacks(p: Profile) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fig. 4's attacks at each eps of ``p.fig4_eps`` (setup of 5.1.1): white-box APGD (100
    iterations) and CW-Linf (10 iterations, lr 0.01) on the first 2,000 test images; black-box
    Square (5,000 queries) and AutoAttack (standard) on the first 1,000.

    Returns:
        (white-box specs, black-box + AutoAttack specs) as ``AttackSpec.to_dict`` dicts.
    """
    white, black = [], []
    for e in p.fig4_eps:
        lab = _eps_label(e)
        white.append(AttackSpec(f"APGD eps={lab}", "apgd-ce", {"eps": e, "steps": 100}).to_dict())
        cw = {"eps": e, "alpha": 0.01, "steps": 10}
        white.append(AttackSpec(f"CW-inf eps={lab}", "cw-linf", cw).to_dict())
        sq = {"eps": e, "n_queries": 5000}
        black.append(AttackSpec(f"Square eps={lab}", "square", sq).to_dict())
        black.append(AttackSpec(f"AA eps={lab}", "autoattack", {"eps": e}).to_dict())
    return white, black


def fig4_analyses(p: Profile, code: str) -> list[tuple[str, dict[str, Any]]]:
    """The two Fig. 4 analyses of one natural-training run (white-box 2,000, black-box 1,000)."""
    white, black = fig4_attacks(p)
    return [
        ("ctr/attack-accuracy", {"attacks": white, "n": p.fig4_n_white, "prefix": FIG4_WB}),
        ("ctr/attack-accuracy", {"attacks": black, "n": p.fig4_n_black, "prefix": FIG4_BB}),
    ]


#: Side of the (square) map at each model's ``map_drop_stage`` output for its paper input:
#: MNISTNet 28 -> 26 -> 24 -> pool 12 -> 10 -> 8 -> pool 4; VGG16 32 -> five pools -> 1;
#: ResNet50 (CIFAR) layer4 4 (checked in the tests by a forward pass).
MAP_SIDE = {"mnistnet": 4, "vgg16": 1, "resnet50": 4}
#: Block size / map side of the originals' settings: DropBlock 7 on ResNet-50's 14x14 group-3
#: maps (Ghiasi et al. 2018), Disout 6 on CIFAR ResNet-56's 8x8 last-stage maps (Tang et al.).
BLOCK_FRACTION = {"dropblock": 7 / 14, "disout": 6 / 8}


def map_drop_opts(method: str, model: str) -> dict[str, Any]:
    """``block_size`` for DropBlock/Disout that fits the map they drop (the originals' block /
    map ratio of :data:`BLOCK_FRACTION` on :data:`MAP_SIDE`; at least 1): MNISTNet's 4x4 maps get
    2 (DropBlock) and 3 (Disout) instead of the ImageNet/CIFAR-ResNet 7 and 6, which cover the
    whole map. Empty for other methods."""
    if method not in BLOCK_FRACTION:
        return {}
    side = MAP_SIDE[model]
    return {"block_size": max(1, min(side, round(BLOCK_FRACTION[method] * side)))}


# ------------------------------------------------------------------------------ natural runs


def nt_run(
    p: Profile,
    code: str,
    model: str,
    schedule: str,
    row: str,
    *,
    seed: int = 0,
    eta: float | None = None,
) -> RunSpec:
    """The natural-training run of one Table 1-4 row (and its analyses).

    The analog profiles run Table 7's attack study on the Fashion-MNIST dropout model (Cyclic).
    """
    method, opts = ROW_METHODS[row]
    ds = DATASETS[code]
    opts = dict(opts) | map_drop_opts(method, model)
    if "mdl" in method:
        opts["eta"] = eta if eta is not None else PAPER_ETA[ds]
    preset = natural_preset(
        method,
        opts,
        model=model,
        dataset=ds,
        schedule=schedule,
        epochs=p.nt_epochs or NT_EPOCHS[ds],
        lr=p.nt_lr,
        n_train=p.nt_n_train,
        n_test=p.nt_n_test,
        seed=seed,
        batch_size=p.nt_batch_size,
    )
    rid = f"nt-{_slug(code)}-{model}-{schedule}-{_slug(row.split(' [')[0])}"
    rid += f"-eta{eta:g}" if eta is not None else ""
    rid += f"-s{seed}" if seed else ""
    analyses: list[tuple[str, dict[str, Any]]] = []
    if schedule == "cyclic" and seed == 0 and eta is None:
        if code == "FM" and row in FIG3_ROWS + FIG5_ROWS:
            curve_kw = {"attacks": curve_attacks(p), "n": p.curve_n, "prefix": CURVE}
            analyses.append(("ctr/attack-accuracy", curve_kw))
        if code in p.fig4_datasets and model == FIG4_MODEL.get(code):
            analyses += fig4_analyses(p, code)
        analyses.append(("ctr/wrong-class-below-threshold", {}))
        analyses.append(("ctr/empirical-ct-curve", {"thresholds": list(DEFAULT_CT_THRESHOLDS)}))
    if p.name != "paper" and (code, schedule, row, seed, eta) == (
        "FM",
        "cyclic",
        "DO [10]",
        0,
        None,
    ):
        t7_kw = {"attacks": t7_attacks(p, p.t7_eps_nt), "n": p.t7_n, "asr": True, "prefix": T7}
        analyses.append(("ctr/attack-accuracy", t7_kw))
    return RunSpec(rid, (preset.train_config(),), None, p.nt_n_test, analyses=tuple(analyses))


# ------------------------------------------------------------------------------ AT runs

_AT_ROW = re.compile(
    r"^(?P<m>Fast-AT|Free-AT|Madry-AT|TRADES) w\S* CTR "
    r"(?:beta=(?P<b>[\d.]+) )?gamma=(?P<g>[\d.]+)(?: epochs=(?P<e>[\d/-]+))?$"
)


def parse_at_row(row: str) -> tuple[str, float, float, str]:
    """ "Madry-AT w/ CTR gamma=2 epochs=50" -> ("madry-at", gamma 2, beta 0, "50")."""
    m = _AT_ROW.match(row)
    if m is None:
        raise ValueError(f"not an adversarial-training row: {row!r}")
    beta = float(m["b"]) if m["b"] else 0.0
    return AT_NAMES[m["m"]], float(m["g"]), beta, m["e"] or str(AT_EPOCHS[AT_NAMES[m["m"]]])


def paper_epochs(base: str, gamma: float, label: str, schedule: str, idx: Index) -> int:
    """Epochs of a printed row. "40/50": 40 on Multistep, 50 on Cyclic. "-" (training time
    increased, epochs not printed): 50 x (this row's Time / the 50-epoch row's Time) of Table 6,
    rounded to a multiple of 5 (``idx``: the published cells by reference)."""
    if label == "40/50" or label == "40":
        return 40 if schedule == "multistep" else 50
    if label != "-":
        return int(label)
    name = {v: k for k, v in AT_NAMES.items()}[base]
    col = f"{schedule.capitalize()}/Time"
    g = f"{gamma:g}"
    t_dash = idx[("6", f"{name} w/ CTR gamma={g} epochs=-", col)].value
    t_50 = idx[("6", f"{name} w/ CTR gamma={g} epochs=50", col)].value
    assert t_dash is not None and t_50 is not None
    return max(5, 5 * round(50 * t_dash / t_50 / 5))


def at_run(p: Profile, base: str, gamma: float, beta: float, schedule: str, epochs: int) -> RunSpec:
    """One adversarial-training run (Tables 5-9)."""
    trades = base == "trades"  # TRADES' own training attack (the paper: "same as TRADES")
    preset = adversarial_preset(
        base,
        gamma=gamma,
        beta=beta,
        schedule=schedule,
        epochs=epochs,
        lr=p.at_lr[(base, schedule)],
        eps=p.at_eps,
        alpha=p.trades_alpha if trades else p.at_alpha,
        steps=p.trades_steps if trades else p.at_steps,
        model=p.at_model,
        dataset=p.at_dataset,
        n_train=p.at_n_train,
        batch_size=p.at_batch_size,
    )
    rid = f"at-{p.at_dataset}-{p.at_model}-{schedule}-{base}-g{gamma:g}"
    rid += f"-b{beta:g}" if base == "trades" else ""
    rid += f"-e{epochs}"
    analyses: list[tuple[str, dict[str, Any]]] = []
    if p.name == "paper":  # Square on the first 1,000 (AutoAttack: core's, on aa_n = 1,000)
        sq = [AttackSpec("Square", "square", {"eps": p.at_eps, "n_queries": 5000}).to_dict()]
        analyses.append(("ctr/attack-accuracy", {"attacks": sq, "n": 1000, "prefix": BLACKBOX}))
    is_t7 = gamma == 0 and (base != "trades" or beta == 6.0) and schedule == p.at_schedules[0]
    if is_t7 or (p.name == "quick" and gamma == 0):
        t7_kw = {"attacks": t7_attacks(p, p.t7_eps_at), "n": p.t7_n, "asr": True, "prefix": T7}
        analyses.append(("ctr/attack-accuracy", t7_kw))
    return RunSpec(
        rid,
        (preset.train_config(),),
        at_suite(p),
        p.at_eval_n,
        analyses=tuple(analyses),
        autoattack_n=p.aa_n,
    )


AT_METRIC = {
    "Natural": ("clean_acc", "clean"),
    "FGSM": ("acc/FGSM", "robust"),
    "PGD": ("acc/PGD", "robust"),
    "AA": ("", "robust"),  # core's AutoAttack metric at the profile's eps (aa_metric)
    "MI": ("acc/MI", "robust"),
    "APGD": ("acc/APGD", "robust"),
    "PGD-SCE": ("acc/PGD-SCE", "robust"),
    "CW-inf": ("acc/CW-inf", "robust"),
    "Square": (f"{BLACKBOX}acc/Square", "robust"),
}


# ------------------------------------------------------------------------------ build


class _Builder:
    def __init__(self, p: Profile, published: Sequence[PublishedCell]) -> None:
        self.p = p
        self.published = list(published)
        self.index: Index = {c.ref: c for c in self.published}
        self.cells: dict[str, list[Cell]] = {}
        self.runs: dict[str, RunSpec] = {}

    def add_run(self, spec: RunSpec) -> str:
        self.runs.setdefault(spec.id, spec)
        return spec.id

    def add(self, table: str, row: str, col: str, run: str, metric: str, kind: Kind) -> None:
        pc = self.index.get((table, row, col))
        value = pc.value if pc is not None else None
        # a reduced budget or another dataset: shown without a tolerance mark, kind kept (a
        # robust analog cell still gets its AutoAttack verdict)
        analog = self.p.name != "paper" and table in {"5", "6", "7", "8", "9", "fig4"}
        analog = analog or (self.p.name == "quick" and pc is not None)
        self.cells.setdefault(table, []).append(
            Cell(table, row, col, run, metric, value, None, kind, analog=analog)
        )

    # Tables 1-2 ------------------------------------------------------------------------
    def natural_tables(self) -> None:
        p = self.p
        for pc in self.published:
            if pc.table not in ("1", "2") or pc.column == "Avg. rank":
                continue
            model_name, sched, code = pc.column.split("/")
            if code not in p.nt_datasets or sched.lower() not in p.schedules:
                continue
            if p.nt_rows is not None and pc.row not in p.nt_rows:
                continue
            spec = nt_run(p, code, MODELS[model_name], sched.lower(), pc.row)
            self.add(pc.table, pc.row, pc.column, self.add_run(spec), "train/clean_acc", "clean")

    def tables_3_4(self) -> None:
        p = self.p
        for pc in self.published:
            if pc.table not in ("3", "4") or pc.column.endswith("/Time"):
                continue
            code = T34_COLUMNS[pc.column.split("/")[0]]
            row = ALIASES.get(pc.row, pc.row)
            if code not in p.nt_datasets or (p.nt_rows is not None and row not in p.nt_rows):
                continue
            model = T34_MODEL[code]
            rid = self.add_run(nt_run(p, code, model, "cyclic", row))
            if pc.table == "4":
                self.add("4", pc.row, pc.column, rid, "count/below_threshold", "other")
                continue
            if len(p.seeds) > 1:  # the paper prints a mean over seeds: compare mean +- std
                base = self.runs[rid]
                seeded = dataclasses.replace(
                    base, id=f"{rid}-seeds", seeds=tuple(p.seeds), analyses=()
                )
                rid = self.add_run(seeded)
            self.add("3", pc.row, pc.column, rid, "train/clean_acc", "clean")

    # Figures ---------------------------------------------------------------------------
    def figures(self) -> None:
        p = self.p
        if "FM" not in p.nt_datasets:
            return
        for eta in p.eta_sweep:
            for sched, col in (("cyclic", "MC"), ("multistep", "MM")):
                if sched in p.schedules:
                    rid = self.add_run(nt_run(p, "FM", "mnistnet", sched, "MDL (ours)", eta=eta))
                    self.add("fig1", f"eta={eta:g}", col, rid, "train/clean_acc", "clean")
        names = [a["label"] for a in curve_attacks(p)]
        for table, rows in (("fig3", FIG3_ROWS), ("fig5", FIG5_ROWS)):
            for row in rows:
                if p.nt_rows is not None and row not in p.nt_rows:
                    continue
                rid = self.add_run(nt_run(p, "FM", "mnistnet", "cyclic", row))
                for label in names:
                    self.add(table, row, label, rid, f"{CURVE}acc/{label}", "robust")
        for row in ROW_METHODS:
            if p.nt_rows is not None and row not in p.nt_rows:
                continue
            if row not in {ALIASES.get(c.row, c.row) for c in self.published if c.table == "4"}:
                continue
            rid = self.add_run(nt_run(p, "FM", "mnistnet", "cyclic", row))
            for t in DEFAULT_CT_THRESHOLDS:
                self.add("fig6", row, f"CT={t:.4f}", rid, ct_key(t), "other")

    def figure_4(self) -> None:
        """Fig. 4: the regularisers, MDL and MDL-PCC (Table 1's rows) under APGD, CW-Linf,
        Square and AutoAttack at each eps (CIFAR-10 VGG16, Cyclic; the fmnist analog: MNISTNet)."""
        p = self.p
        white, black = fig4_attacks(p)
        for code in p.fig4_datasets:
            for row in FIG4_ROWS:
                rid = self.add_run(nt_run(p, code, FIG4_MODEL[code], "cyclic", row))
                for a, prefix in [(a, FIG4_WB) for a in white] + [(a, FIG4_BB) for a in black]:
                    col = a["label"] if len(p.fig4_datasets) == 1 else f"{code}/{a['label']}"
                    self.add("fig4", row, col, rid, f"{prefix}acc/{a['label']}", "robust")

    # Tables 5-9 ------------------------------------------------------------------------
    def adversarial_tables(self) -> None:
        p = self.p
        wanted = None if p.at_rows is None else set(p.at_rows)
        for pc in self.published:
            if pc.table not in ("5", "6", "8", "9") or pc.column.endswith("/Time"):
                continue
            sched, col = pc.column.split("/")
            base, gamma, beta, ep_label = parse_at_row(pc.row)
            if sched.lower() not in p.at_schedules or col not in AT_METRIC:
                continue
            if wanted is not None and ((base, gamma, beta) not in wanted or ep_label == "-"):
                continue
            if col in ("AA", "Square") and p.name != "paper":
                continue
            if col not in ("Natural", "FGSM", "PGD", "AA") and not p.at_extra_attacks:
                continue
            epochs = max(
                1,
                round(
                    paper_epochs(base, gamma, ep_label, sched.lower(), self.index)
                    * p.at_epoch_scale
                ),
            )
            rid = self.add_run(at_run(p, base, gamma, beta, sched.lower(), epochs))
            metric, kind = AT_METRIC[col]
            metric = metric or aa_metric(p.at_eps, "Linf")
            self.add(pc.table, pc.row, pc.column, rid, metric, kind)  # type: ignore[arg-type]

    def nt_resnet18(self) -> str:
        """Table 7's naturally trained CIFAR-10 ResNet18 (setup of 5.1.1: 200 epochs, lr 0.01,
        Multistep)."""
        p = self.p
        preset = natural_preset(
            "natural", model="resnet18", dataset="cifar10", schedule="multistep", epochs=200
        )
        t7_kw = {"attacks": t7_attacks(p, p.t7_eps_nt), "n": p.t7_n, "asr": True, "prefix": T7}
        spec = RunSpec(
            "nt-c10-resnet18-multistep-natural",
            (preset.train_config(),),
            None,
            None,
            analyses=(("ctr/attack-accuracy", t7_kw),),
        )
        return self.add_run(spec)

    def table_7(self) -> None:
        if self.p.name == "paper":
            nt_run_id: str | None = self.nt_resnet18()
        else:
            nt_run_id = next(
                (
                    r
                    for r, s in self.runs.items()
                    if r.startswith("nt-") and "t7/" in str(s.analyses)
                ),
                None,
            )
        by_base: dict[str, str] = {}
        for rid, spec in self.runs.items():
            if rid.startswith("at-") and "t7/" in str(spec.analyses):
                base = spec.train[-1].method.removeprefix("ctr/")
                by_base.setdefault(base, rid)
        for pc in self.published:
            if pc.table != "7":
                continue
            column_base = T7_COLUMNS[pc.column]
            run_id = nt_run_id if column_base is None else by_base.get(column_base)
            if run_id is None:
                continue
            fam, loss = pc.row.split("/")
            if (fam == "APGD" and not self.p.t7_apgd) or loss not in self.p.t7_losses:
                continue
            self.add("7", pc.row, pc.column, run_id, f"t7/asr/{pc.row}", "other")
            if pc.row == "PGD/CE":
                for g in self.p.fig7_gammas:
                    label = f"PGD/SCE gamma={g:g}"
                    self.add("fig7", pc.column, f"gamma={g:g}", run_id, f"t7/asr/{label}", "other")


def build(
    p: Profile, published: Sequence[PublishedCell]
) -> tuple[dict[str, list[Cell]], dict[str, RunSpec]]:
    """Cells per table id and the runs they need, for profile ``p`` and the printed cells."""
    b = _Builder(p, published)
    b.natural_tables()
    b.tables_3_4()
    b.figures()
    b.figure_4()
    b.adversarial_tables()
    b.table_7()
    return b.cells, b.runs
