"""The reproduction data model: cells, claims, tables, runs and the ``Paper`` interface.

A paper package describes each published table as a :class:`TableSpec` (which measured metric of
which run fills each printed cell, plus the paper's claims about the table) and the training and
evaluation it needs as :class:`RunSpec` objects. Cells share runs: one training run fills many
attack columns. :func:`robustlab.core.repro.reproduce` turns the specs into runs and a report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from robustlab.core.registry import Registry
from robustlab.core.repro.published import CellRef

if TYPE_CHECKING:
    from robustlab.core.eval import Suite
    from robustlab.core.train import TrainConfig

PROFILES = ("quick", "fmnist", "paper")
KINDS = ("robust", "clean", "other")
OPS = (">", ">=", "<", "<=")
DEFAULT_TOLERANCE: dict[str, float | None] = {"clean": 1.5, "robust": 5.0, "other": None}
"""Default |ours - paper| tolerance in accuracy points by cell kind (DESIGN.md, Profiles)."""

ANALYSES: Registry[Callable[..., dict[str, float]]] = Registry("analysis")
"""Post-training analyses ``fn(model, x, y, **kw) -> dict[str, float]`` merged into a run's metrics.

``x`` is (N, C, H, W) float in [0, 1], ``y`` is (N,) int64: the run's first ``n_eval`` test
examples on the run's device. Paper packages register theirs prefixed, e.g.
``"ctr/wrong-class-below-threshold"``.
"""


@dataclass(frozen=True)
class Resources:
    """What one cluster job of a run asks for (``robustlab reproduce --executor local|slurm``).

    Attributes:
        cpus: CPU cores per job (also the job's torch thread count).
        gpus: GPUs per job (0: CPU only).
        mem_gb: Memory per job in GiB.
        time_min: Wall-time limit per job in minutes.
    """

    cpus: int = 2
    gpus: int = 0
    mem_gb: float = 8.0
    time_min: int = 60

    def __post_init__(self) -> None:
        for name in ("cpus", "gpus", "time_min"):
            value, least = getattr(self, name), int(name != "gpus")
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"Resources.{name} must be an int >= {least}, got {value!r}")
        if not self.mem_gb > 0:
            raise ValueError(f"Resources.mem_gb must be > 0, got {self.mem_gb!r}")


DEFAULT_RESOURCES: dict[str, Resources] = {
    "quick": Resources(cpus=2, gpus=0, mem_gb=8, time_min=60),
    "fmnist": Resources(cpus=4, gpus=0, mem_gb=16, time_min=24 * 60),
    "paper": Resources(cpus=8, gpus=1, mem_gb=64, time_min=48 * 60),
}
"""Per-profile resources of a run that declares none (``RunSpec.resources`` None)."""


def _check(value: object, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclass(frozen=True)
class Cell:
    """One table cell we measure: the ``metric`` of run ``run``, compared with the paper's value.

    Attributes:
        table, row, column: The published cell's ids, exactly as in the CSV.
        run: Id of the :class:`RunSpec` that produces the value.
        metric: Key in that run's flat metrics dict, e.g. "clean_acc", "acc/PGD eps=0.1",
            "worst_case_acc", "count/below_threshold".
        paper_value: The printed value (None where the paper printed none).
        tolerance: Allowed |ours - paper|; None -> :data:`DEFAULT_TOLERANCE` of ``kind``.
        kind: "clean" (accuracy on clean data), "robust" (accuracy under attack) or "other".
        analog: Measured under another budget, model or dataset than the printed value (an
            analog profile): shown beside the paper's value without a tolerance mark. The kind
            stays what the metric is, so a robust analog cell still gets its AutoAttack verdict.
    """

    table: str
    row: str
    column: str
    run: str
    metric: str
    paper_value: float | None
    tolerance: float | None = None
    kind: Literal["robust", "clean", "other"] = "robust"
    analog: bool = False

    def __post_init__(self) -> None:
        _check(self.kind, KINDS, "Cell.kind")
        if self.tolerance is not None and self.tolerance < 0:
            raise ValueError(f"Cell.tolerance must be >= 0 or None, got {self.tolerance!r}")

    @property
    def ref(self) -> CellRef:
        """(table, row, column)."""
        return (self.table, self.row, self.column)

    @property
    def effective_tolerance(self) -> float | None:
        """The cell's tolerance, or the default of its kind."""
        return self.tolerance if self.tolerance is not None else DEFAULT_TOLERANCE[self.kind]


@dataclass(frozen=True)
class Comparison:
    """An ordering the paper claims between two cells.

    Holds when ``lhs - rhs > margin`` (op ">"), ``>= margin`` (">="), ``lhs - rhs < -margin``
    ("<") or ``<= -margin`` ("<="): a positive margin demands a clear gap, a negative one allows
    slack.
    """

    lhs: CellRef
    op: Literal[">", ">=", "<", "<="]
    rhs: CellRef
    margin: float = 0.0

    def __post_init__(self) -> None:
        _check(self.op, OPS, "Comparison.op")
        for side in (self.lhs, self.rhs):
            if not (isinstance(side, tuple) and len(side) == 3):
                raise ValueError(
                    f"Comparison cells must be (table, row, column) tuples, got {side!r}"
                )

    def holds(self, lhs: float, rhs: float) -> bool:
        """Whether the ordering holds for the two values."""
        diff = lhs - rhs
        if self.op == ">":
            return diff > self.margin
        if self.op == ">=":
            return diff >= self.margin
        if self.op == "<":
            return diff < -self.margin
        return diff <= -self.margin

    def describe(self) -> str:
        """E.g. "(1, PGD eps=0.1, MNIST/Ours) > (1, PGD eps=0.1, MNIST/CE)"."""
        margin = f" + {self.margin:g}" if self.margin else ""
        return f"{'/'.join(self.lhs)} {self.op} {'/'.join(self.rhs)}{margin}"


@dataclass(frozen=True)
class Claim:
    """A statement of the paper about a table, checked through its comparisons.

    Attributes:
        id: Short id, unique within the paper (e.g. "pc-beats-ce-whitebox").
        text: The claim in words (e.g. "PC > CE on every white-box cell").
        table: The table it is about.
        comparisons: The orderings that make it true.
        mode: "all" (every comparison must hold) or "any" (at least one).
    """

    id: str
    text: str
    table: str
    comparisons: tuple[Comparison, ...]
    mode: Literal["all", "any"] = "all"

    def __post_init__(self) -> None:
        _check(self.mode, ("all", "any"), "Claim.mode")
        if not self.comparisons:
            raise ValueError(f"claim {self.id!r} needs at least one Comparison")


@dataclass(frozen=True)
class TableSpec:
    """A published table as measured cells plus the paper's claims about it."""

    id: str
    title: str
    cells: tuple[Cell, ...]
    claims: tuple[Claim, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        refs = [c.ref for c in self.cells]
        dup = {r for r in refs if refs.count(r) > 1}
        if dup:
            raise ValueError(f"table {self.id!r} lists cells twice: {sorted(dup)}")

    def run_ids(self) -> list[str]:
        """Ids of the runs its cells need, in first-use order."""
        return list(dict.fromkeys(c.run for c in self.cells))


@dataclass(frozen=True)
class RunSpec:
    """One model to train (in chained phases) and evaluate.

    Attributes:
        id: Unique within a profile; used as directory name (letters, digits, ``-_.=+`` only).
        train: Training phases; phase i+1 starts from phase i's checkpoint (the runner sets
            ``init_from``).
        suite: Evaluation suite (a ``Suite``, or a registered suite name), or None for no attack
            evaluation (metrics then come from training and analyses only).
        n_eval: Evaluate on the first ``n_eval`` test examples (None: the whole test set).
        eval_dataset: Test set name; None -> the last phase's training dataset.
        analyses: (ANALYSES name, keyword arguments) pairs run after evaluation.
        eval_batch_size: Batch size of the evaluation.
        eval_seed: Seed of the attacks' randomness.
        needs: Run dependencies, role -> id of another RunSpec of the same profile (e.g.
            ``{"teacher": "c10-resnet18-nt"}``). The runner trains them first (once, shared),
            hashes them into this run's hash, passes their finished training run directories
            to every phase as ``TrainConfig.needs`` and substitutes them for ``need_ref(role)``
            strings in the suite's attack options (see :mod:`robustlab.core.repro.plan`).
        seeds: Training seeds of a seeded run (e.g. ``(0, 1, 2)``): one child run per seed
            (id ``<id>+seed<s>``, every phase's ``TrainConfig.seed`` set to ``s``), metrics
            aggregated to the mean plus ``std/<metric>`` (see :mod:`robustlab.core.repro.seeds`).
            Empty: one run with the configs' own seeds.
        autoattack: Also evaluate with AutoAttack standard at each (eps, norm) of the suite, on
            the same images (metrics ``aa/<norm> eps=<eps>``). The runner sets it for every run
            a robustness cell uses (:mod:`robustlab.core.repro.autoattack`).
        autoattack_n: Run AutoAttack on the first ``autoattack_n`` evaluation images only
            (None: all ``n_eval``). Every run of a claim should use the same value so that the
            AutoAttack verdict stays paired; AutoAttack on a robust model costs seconds per image
            on a CPU, which is what this bounds in the quick profiles.
        autoattack_from: The label of the suite's own outcomes that already are AutoAttack
            standard at the suite's budget (e.g. "worst_case" of a worst-case suite made of
            AutoAttack's four attacks with standard's settings, or the label of an
            ``autoattack`` entry): the AutoAttack metric is then read from them instead of
            attacking a second time. None: AutoAttack runs separately.
        resources: What each of its cluster jobs asks for; None: :data:`DEFAULT_RESOURCES` of
            the profile. Not part of the run's hash.
        eval_shards: Under a cluster executor, evaluate the suite in this many shards, one job
            each, merged bit-identically (:mod:`robustlab.core.eval.shard`). Not hashed.
    """

    id: str
    train: tuple[TrainConfig, ...]
    suite: Suite | str | None
    n_eval: int | None
    eval_dataset: str | None = None
    analyses: tuple[tuple[str, dict[str, Any]], ...] = ()
    eval_batch_size: int = 256
    eval_seed: int = 0
    needs: dict[str, str] = dataclasses.field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    autoattack: bool = False
    autoattack_n: int | None = None
    autoattack_from: str | None = None
    resources: Resources | None = None
    eval_shards: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.eval_shards, int) or self.eval_shards < 1:
            raise ValueError(
                f"RunSpec {self.id!r}: eval_shards must be an int >= 1, got {self.eval_shards!r}"
            )
        if self.autoattack_n is not None and self.autoattack_n <= 0:
            raise ValueError(
                f"RunSpec {self.id!r}: autoattack_n must be a positive int or None, "
                f"got {self.autoattack_n!r}"
            )
        if len(set(self.seeds)) != len(self.seeds) or any(
            not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.seeds
        ):
            raise ValueError(
                f"RunSpec {self.id!r}: seeds must be distinct ints >= 0, got {self.seeds!r}"
            )
        for role, dep in self.needs.items():
            if not (isinstance(role, str) and role and isinstance(dep, str) and dep):
                raise ValueError(
                    f"RunSpec {self.id!r}: needs must map a role name to a run id, got "
                    f"{role!r}: {dep!r}"
                )
            if dep == self.id:
                raise ValueError(f"RunSpec {self.id!r} needs itself as {role!r}; name another run")
        if not self.id or any(not (ch.isalnum() or ch in "-_.=+") for ch in self.id):
            raise ValueError(
                f"RunSpec.id {self.id!r} must be non-empty and use only letters, digits and -_.=+"
            )
        if not self.train:
            raise ValueError(f"RunSpec {self.id!r} needs at least one training phase")
        if self.n_eval is not None and self.n_eval <= 0:
            raise ValueError(
                f"RunSpec {self.id!r}: n_eval must be a positive int or None, got {self.n_eval!r}"
            )

    @property
    def dataset(self) -> str:
        """The test set the run is evaluated on."""
        return self.eval_dataset or str(self.train[-1].dataset)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description (what the run's config hash is computed over).

        ``needs`` (role -> run id) appears only when non-empty, so runs without dependencies
        keep their hash; :func:`robustlab.core.repro.store.spec_hash` adds the dependencies'
        own hashes.
        """
        out = {
            "id": self.id,
            "train": [to_jsonable(cfg) for cfg in self.train],
            "suite": to_jsonable(self.suite),
            "n_eval": self.n_eval,
            "eval_dataset": self.dataset,
            "analyses": [[name, to_jsonable(kw)] for name, kw in self.analyses],
            "eval_batch_size": self.eval_batch_size,
            "eval_seed": self.eval_seed,
        }
        if self.needs:
            out["needs"] = dict(sorted(self.needs.items()))
        if self.seeds:  # only when set, so unseeded runs keep their hash
            out["seeds"] = list(self.seeds)
        if self.autoattack:
            out["autoattack"] = True
        if self.autoattack_n is not None:
            out["autoattack_n"] = self.autoattack_n
        if self.autoattack_from is not None:
            out["autoattack_from"] = self.autoattack_from
        return out


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, tuples and mappings -> plain JSON types.

    Callables become ``"module:qualname"`` (stable across processes); other objects ``repr``.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if callable(obj) and hasattr(obj, "__qualname__"):  # stable across processes, unlike repr
        return f"{getattr(obj, '__module__', '?')}:{obj.__qualname__}"
    return repr(obj)


def check_paper(paper: Any, profile: str) -> tuple[list[TableSpec], dict[str, RunSpec]]:
    """Validate a paper's specs: every cell names a known run, every claim names known cells.

    Raises:
        ValueError: naming the first inconsistency and how to fix it (also: a run that needs
            an unknown run, or run dependencies that form a cycle).
    """
    _check(profile, tuple(getattr(paper, "profiles", None) or PROFILES), "profile")
    tables = list(paper.tables(profile))
    runs = dict(paper.runs(profile))
    for key, spec in runs.items():
        if key != spec.id:
            raise ValueError(
                f"{paper.name}: runs()[{key!r}] has id {spec.id!r}; keys must equal RunSpec.id"
            )
    from robustlab.core.repro.plan import dependency_order

    dependency_order(runs, list(runs))  # unknown dependencies and cycles are errors
    ids = [t.id for t in tables]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{paper.name}: duplicate table ids in tables({profile!r}): {ids}")
    refs = {c.ref for t in tables for c in t.cells}
    for table in tables:
        for cell in table.cells:
            if cell.run not in runs:
                raise ValueError(
                    f"{paper.name} table {table.id}: cell {cell.ref} uses run {cell.run!r}, "
                    f"which runs({profile!r}) does not define "
                    f"(known: {', '.join(sorted(runs)) or 'none'})"
                )
        for claim in table.claims:
            for comp in claim.comparisons:
                for side in (comp.lhs, comp.rhs):
                    if side not in refs:
                        raise ValueError(
                            f"{paper.name} claim {claim.id!r}: cell {side} is not a cell of any "
                            f"table of profile {profile!r}; add it to a TableSpec or fix the "
                            "reference"
                        )
    return tables, runs


__all__ = [
    "ANALYSES",
    "DEFAULT_RESOURCES",
    "DEFAULT_TOLERANCE",
    "PROFILES",
    "Cell",
    "CellRef",
    "Claim",
    "Comparison",
    "Resources",
    "RunSpec",
    "TableSpec",
    "check_paper",
    "to_jsonable",
]
