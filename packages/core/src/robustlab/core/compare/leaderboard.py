"""Leaderboards of the comparison: AutoAttack accuracy, Wilson intervals, McNemar vs the baseline.

Every number of one model comes from the same test images: the first ``n`` evaluation images
that AutoAttack attacked; the PGD and clean outcomes are cut to those images too, so the attack
gap and the paired tests compare like with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from robustlab.core.repro.stats import mcnemar_exact, wilson

AA = "AutoAttack"
MASKING_GAP = 5.0  #: points between the weakest and strongest attack that flag possible masking


@dataclass(frozen=True)
class ModelResult:
    """Per-example outcomes of one model (True = correct / robust), all on the same images.

    Attributes:
        label: Method label, e.g. "TRADES".
        family: "natural" or "adversarial".
        run: Run id in the store.
        outcomes: "clean", "AutoAttack" and one entry per suite attack (e.g. "PGD-CE"),
            each a list of n booleans over the same images.
        failed_checks: Names of the evaluation sanity checks that failed.
        meta: Method name, model, options, wall times (shown in the report and JSON).
    """

    label: str
    family: str
    run: str
    outcomes: Mapping[str, Sequence[bool]]
    failed_checks: tuple[str, ...] = ()
    meta: Mapping[str, object] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of images (length of the AutoAttack outcome vector)."""
        return len(self.outcomes[AA])

    def acc(self, key: str) -> float:
        """Accuracy in percent [0, 100] of outcome ``key`` (``k / n * 100``)."""
        vec = self.outcomes[key]
        return 100.0 * sum(map(bool, vec)) / len(vec) if vec else 0.0


@dataclass(frozen=True)
class Row:
    """One leaderboard line (accuracies and intervals in percent; p-value in [0, 1])."""

    rank: int
    label: str
    run: str
    n: int
    clean: float
    clean_ci: tuple[float, float]
    attacks: dict[str, float]
    aa: float
    aa_ci: tuple[float, float]
    vs_baseline: float | None  # AutoAttack accuracy minus the baseline's, points
    p_value: float | None  # two-sided McNemar exact p vs the baseline (None: the baseline itself)
    discordant: tuple[int, int] | None
    gap: float  # weakest minus strongest attack accuracy, points (>= 0)
    strongest: str
    weakest: str
    masking: bool  # gap > MASKING_GAP or a failed sanity check
    failed_checks: tuple[str, ...] = ()


def two_sided_mcnemar(lhs: Sequence[bool], rhs: Sequence[bool]) -> tuple[float, tuple[int, int]]:
    """Two-sided exact McNemar p-value ``min(1, 2 min(P(X >= b), P(X >= c)))``, X ~ Bin(b+c, 1/2).

    Returns:
        (p in [0, 1], (b, c)) with b = right under ``lhs`` only, c = right under ``rhs`` only.
    """
    t = mcnemar_exact(lhs, rhs)
    assert t.discordant is not None
    return min(1.0, 2.0 * min(t.p_greater, t.p_less)), t.discordant


def attack_gap(model: ModelResult) -> tuple[float, str, str]:
    """(weakest - strongest accuracy, strongest attack, weakest attack) over the model's attacks.

    The attacks are every outcome except "clean"; a large gap means a weak attack was fooled
    (gradient masking is the usual cause) while a stronger one was not.
    """
    accs = {k: model.acc(k) for k in model.outcomes if k != "clean"}
    strongest = min(accs, key=lambda k: (accs[k], k))
    weakest = max(accs, key=lambda k: (accs[k], k))
    return accs[weakest] - accs[strongest], strongest, weakest


def leaderboard(models: Sequence[ModelResult], baseline: str) -> list[Row]:
    """Rank models by AutoAttack accuracy (descending; ties by label) with intervals and tests.

    Args:
        models: One family's models; all must share the same images (same n).
        baseline: Label of the family's baseline (CE / Madry-AT); when absent, no p-values.

    Returns:
        Rows, rank 1 = highest AutoAttack accuracy. Each carries the 95 % Wilson interval of its
        clean and AutoAttack accuracy and the two-sided McNemar exact p-value of its AutoAttack
        outcomes against the baseline's (paired, same images).

    Raises:
        ValueError: if the models were evaluated on different numbers of images.
    """
    sizes = {m.n for m in models}
    if len(sizes) > 1:
        raise ValueError(
            f"leaderboard needs every model on the same images; got n = {sorted(sizes)}: "
            "evaluate them with the same n_eval / autoattack_n"
        )
    base = next((m for m in models if m.label == baseline), None)
    ordered = sorted(models, key=lambda m: (-m.acc(AA), m.label))
    rows: list[Row] = []
    for rank, m in enumerate(ordered, start=1):
        n = m.n
        aa_k = sum(map(bool, m.outcomes[AA]))
        clean_k = sum(map(bool, m.outcomes["clean"]))
        p: float | None = None
        disc: tuple[int, int] | None = None
        diff: float | None = None
        if base is not None and m is not base:
            p, disc = two_sided_mcnemar(m.outcomes[AA], base.outcomes[AA])
            diff = m.acc(AA) - base.acc(AA)
        gap, strongest, weakest = attack_gap(m)
        rows.append(
            Row(
                rank=rank,
                label=m.label,
                run=m.run,
                n=n,
                clean=m.acc("clean"),
                clean_ci=wilson(clean_k, n) if n else (0.0, 100.0),
                attacks={k: m.acc(k) for k in m.outcomes if k not in ("clean", AA)},
                aa=m.acc(AA),
                aa_ci=wilson(aa_k, n) if n else (0.0, 100.0),
                vs_baseline=diff,
                p_value=p,
                discordant=disc,
                gap=gap,
                strongest=strongest,
                weakest=weakest,
                masking=gap > MASKING_GAP or bool(m.failed_checks),
                failed_checks=tuple(m.failed_checks),
            )
        )
    return rows


def pareto_front(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Labels of the (label, clean %, AutoAttack %) points no other point dominates.

    A point is dominated when another is at least as good on both axes and better on one.
    """
    front = []
    for label, c, r in points:
        if not any(
            (c2 >= c and r2 >= r) and (c2 > c or r2 > r) for l2, c2, r2 in points if l2 != label
        ):
            front.append(label)
    return front
