"""Which runs and metrics make each published cell of Tables 1-5, per profile.

Every printed cell ``(table, row, column)`` of the shipped CSV maps to ``(run id, metric key)``:

- the column names the trained model: "FMNIST/Ours" -> PC on Fashion-MNIST with LeNet-5
  (run ``fmnist-lenet5-pc``); Table 2's CIFAR-10 columns use ResNet-56 (``cifar-10-resnet56-*``);
- the row names the attack; the metric is ``"clean_acc"`` for "Clean" and ``"acc/" + label``
  otherwise, with the label of :func:`label_for` (the row itself for white-box rows, so Tables 1,
  2 and 5 share the measurements of a model; "transfer PGD eps=0.1" for Table 3's black-box rows;
  "C&W conf=0.0 (1000 it)" for Table 2's longer C&W).

Cells share runs: one model is trained once and evaluated with the union of the attacks of every
table it appears in. A model attacked by transfer needs its substitute: ``RunSpec.needs =
{"substitute": <substitute run id>}``, a dependency run in the same run store, and the transfer
attack's ``source_run`` is ``need_ref("substitute")`` (the runner substitutes its directory). Beside the printed cells each white-box column gets robustlab's added
margin-loss rows ("CW-Linf eps=...", "APGD-DLR eps=...", no paper value) and, in Tables 1-2, the
second BIM reading ("BIM (step eps/10) eps=...").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import Cell, Preset, Profile, PublishedCell, RunSpec, need_ref
from robustlab.pcloss.defaults import (
    DATASETS,
    ModelKey,
    model_for,
    phase_presets,
    run_id,
    substitute_of,
)
from robustlab.pcloss.studies import STUDY_TITLES, add_study
from robustlab.pcloss.suites import (
    ADDED_PREFIXES,
    BIM_EPS10,
    MARGIN_PREFIXES,
    bim_eps10_specs,
    margin_specs,
    parse_row,
    row_spec,
)

__all__ = [
    "TABLE_TITLES",
    "added_rows",
    "build",
    "label_for",
    "run_for",
]

TABLE_TITLES = {
    "1": "Table 1: white-box accuracy (%), CE vs PC (LeNet-5 gray, VGG-13 color)",
    "2": "Table 2: white-box accuracy (%), CE vs GCE vs PC (LeNet-5 MNIST, ResNet-56 CIFAR-10)",
    "3": "Table 3: black-box accuracy (%), transfer PGD/MIM from a substitute, SPSA",
    "4": "Table 4: CIFAR-100 / Tiny ImageNet (VGG-13), CE vs GCE vs PC",
    "5": "Table 5: with adversarial training (CE+AT, GCE+AT, Ours+AT) and Ours alone",
    **STUDY_TITLES,
}
CW1000 = " (1000 it)"


def run_for(table: str, column: str) -> ModelKey:
    """The trained model behind a column of a table (Table 2 CIFAR-10: ResNet-56)."""
    model = model_for(column)
    if table == "2" and model[0] == "CIFAR-10":
        return model_for(column, "resnet56")
    return model


def label_for(table: str, row: str) -> str:
    """The attack label (metric ``"acc/" + label``) of a printed attack row."""
    name, _ = parse_row(row)
    if table == "3" and name in ("PGD", "MIM"):
        return f"transfer {row}"
    if table == "2" and name == "C&W":
        return row + CW1000
    return row


def _spec(table: str, row: str, profile: Profile) -> AttackSpec:
    label = label_for(table, row)
    settings = profile.attacks
    if table == "2" and label.endswith(CW1000):
        settings = dataclasses.replace(settings, cw_steps=1000)
    transfer = None
    if label.startswith("transfer "):
        transfer = {"source_run": need_ref("substitute")}
    return row_spec(row, settings, large=table == "4", transfer=transfer, label=label)


def added_rows(table: str, model: ModelKey) -> tuple[str, ...]:
    """The eps labels at which robustlab adds margin-loss rows to a white-box column."""
    gray = DATASETS[model[0]].gray
    if table in ("1", "2"):
        return ("0.1", "0.2", "0.3") if gray else ("0.04", "0.12", "0.2")
    if table == "4":
        return ("0.005", "0.010", "0.015")
    if table == "5":
        return ("0.3",) if gray else ("0.04",)
    return ()


@dataclass
class _Builder:
    profile: Profile
    published: Sequence[PublishedCell]
    cells: dict[str, list[Cell]] = field(default_factory=dict)
    specs: dict[str, dict[str, AttackSpec]] = field(default_factory=dict)
    models: dict[str, ModelKey] = field(default_factory=dict)
    needs: dict[str, dict[str, str]] = field(default_factory=dict)
    analyses: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def analyse(self, model: ModelKey, name: str, **kwargs: Any) -> str:
        """Run analysis ``name`` (a ``pcloss/...`` ANALYSES entry) on ``model``'s run."""
        rid = self.use(model, None)
        self.analyses.setdefault(rid, {}).setdefault(name, kwargs)
        return rid

    def use(self, model: ModelKey, spec: AttackSpec | None) -> str:
        rid = run_id(model)
        self.models.setdefault(rid, model)
        bucket = self.specs.setdefault(rid, {})
        if spec is not None:
            bucket.setdefault(spec.label, spec)
            if spec.attack == "pcloss/transfer":  # the substitute: a dependency run
                self.needs.setdefault(rid, {})["substitute"] = self.use(substitute_of(model), None)
        return rid

    def add(self, table: str, cell: PublishedCell) -> None:
        model = run_for(table, cell.column)
        if cell.row == "Clean":
            metric, kind, spec = "clean_acc", "clean", None
        else:
            spec = _spec(table, cell.row, self.profile)
            metric, kind = f"acc/{spec.label}", "robust"
        rid = self.use(model, spec)
        args = (cell.table, cell.row, cell.column, rid, metric, cell.value)
        self.cells.setdefault(table, []).append(Cell(*args, kind=kind))  # type: ignore[arg-type]

    def add_margin(self, table: str, column: str) -> None:
        model = run_for(table, column)
        eps = added_rows(table, model)
        specs = margin_specs(eps, self.profile.attacks)
        if table in ("1", "2"):  # the tables with a BIM row: its eps/10 reading beside it
            specs = bim_eps10_specs(eps, self.profile.attacks) + specs
        for spec in specs:
            rid = self.use(model, spec)
            cell = Cell(table, spec.label, column, rid, f"acc/{spec.label}", None)
            self.cells.setdefault(table, []).append(cell)


def _columns(published: Sequence[PublishedCell], table: str, prefixes: Iterable[str]) -> list[str]:
    keep = set(prefixes)
    cols = [c.column for c in published if c.table == table and c.column.split("/")[0] in keep]
    return list(dict.fromkeys(cols))


def _fill(
    profile: Profile, published: Sequence[PublishedCell], tables: Iterable[str] | None
) -> _Builder:
    b = _Builder(profile, published)
    wanted = [t for t in profile.columns if tables is None or t in set(tables)]
    for table in wanted:
        if table in STUDY_TITLES:  # robustlab's tables of the paper's unprinted studies
            for ds in profile.columns[table]:
                add_study(b, table, ds)
            continue
        columns = _columns(published, table, profile.columns[table])
        for column in columns:
            for cell in published:
                if cell.table == table and cell.column == column:
                    b.add(table, cell)
        if table != "3":
            for column in columns:
                b.add_margin(table, column)
    return b


def build(
    profile: Profile, published: Sequence[PublishedCell], tables: Iterable[str] | None = None
) -> tuple[dict[str, list[Cell]], dict[str, RunSpec]]:
    """Cells per table and the runs they need under ``profile``.

    Args:
        profile: The budget (its ``columns`` say which tables and datasets are reproduced).
        published: The printed cells (``PAPER.published``).
        tables: Restrict to these table ids (default: all of the profile's).

    Returns:
        ({table id: cells, printed first then added margin rows}, {run id: RunSpec}), the
        runs including the black-box substitutes (dependency runs of the targets).
    """
    b = _fill(profile, published, tables)
    runs = {}
    for rid, model in b.models.items():
        specs = list(b.specs[rid].values())
        suite = Suite(f"pcloss/{rid}", specs, worst_case=False) if specs else None
        runs[rid] = RunSpec(
            rid,
            tuple(p.train_config() for p in phase_presets(model, profile)),
            suite,
            profile.n_eval,
            eval_batch_size=profile.eval_batch_size if DATASETS[model[0]].gray else 256,
            needs=b.needs.get(rid, {}),
            analyses=tuple(b.analyses.get(rid, {}).items()),
            autoattack_n=profile.autoattack_n,
        )
    return b.cells, runs


def is_added_row(row: str) -> bool:
    """Whether a row is one of robustlab's added rows (no paper value): margin-loss attacks and
    BIM with step eps/10."""
    return row.startswith(tuple(f"{p} eps=" for p in ADDED_PREFIXES))


def is_margin_row(row: str) -> bool:
    """Whether a row is one of robustlab's added margin-loss rows (CW-Linf, APGD-DLR)."""
    return row.startswith(tuple(f"{p} eps=" for p in MARGIN_PREFIXES))


def is_bim_eps10_row(row: str) -> bool:
    """Whether a row is the added BIM reading with step eps/10."""
    return row.startswith(f"{BIM_EPS10} eps=")


def dataset_of(column: str) -> str:
    """Core dataset name of a CSV column ("FMNIST/CE" -> "fashion-mnist")."""
    return DATASETS[column.split("/")[0]].dataset


def presets(profile: Profile, published: Sequence[PublishedCell]) -> dict[str, tuple[Preset, ...]]:
    """The training phases (core Presets) of every model of a profile, by run id.

    Each preset's ``command`` and ``expected`` come from :func:`describe_preset`.
    """
    b = _fill(profile, published, None)
    cells, runs = build(profile, published)
    out = {}
    for rid, model in b.models.items():
        doc = describe_preset(rid, profile, published, (cells, runs))
        command, _, expected = doc.partition("\n")
        out[rid] = phase_presets(model, profile, command, expected or "a black-box substitute")
    return out


def describe_preset(
    run_id: str,
    profile: Profile,
    published: Sequence[PublishedCell],
    built: tuple[dict[str, list[Cell]], dict[str, RunSpec]] | None = None,
) -> str:
    """The preset's command and the paper's values it should reproduce (big_vision habit).

    E.g. for "fmnist-lenet5-pc" under the fmnist profile::

        robustlab reproduce pcloss --profile fmnist --tables 1,3,5
        expected (paper): T1 FMNIST/Ours: Clean 90.2, FGSM eps=0.1 58.0, ...

    A substitute (a dependency run filling no cell) gets the command alone.

    Raises:
        KeyError: if the profile has no preset ``run_id``.
    """
    cells, runs = built or build(profile, published)
    if run_id not in runs:
        raise KeyError(f"no preset {run_id!r} in profile {profile.name!r}")
    used = [t for t, cs in cells.items() if any(c.run == run_id for c in cs)]
    if not used:  # a dependency: the tables of the runs that need it
        users = {r for r, spec in runs.items() if run_id in spec.needs.values()}
        used = [t for t, cs in cells.items() if any(c.run in users for c in cs)]
    lines = [f"robustlab reproduce pcloss --profile {profile.name} --tables {','.join(used)}"]
    for table in used:
        mine = [c for c in cells[table] if c.run == run_id and c.paper_value is not None]
        for column in dict.fromkeys(c.column for c in mine):
            vals = ", ".join(f"{c.row} {c.paper_value:g}" for c in mine if c.column == column)
            lines.append(f"expected (paper): T{table} {column}: {vals}")
    return "\n".join(lines)
