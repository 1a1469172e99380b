"""Attack suites: which attacks an evaluation runs, with which settings, under which labels.

A suite is a list of :class:`AttackSpec` (label, registered attack name, keyword arguments) plus
whether accuracy is the worst case over the suite per example (AutoAttack's protocol: attacks after
the first only run on examples still robust) or each attack is reported on all examples (the way
paper tables list FGSM, PGD-20 and CW separately).

Suites are registered by name in :data:`SUITES` as factories taking ``eps`` and ``norm``; a suite
can also be written as text, ``"fgsm;pgd:steps=20,alpha=2/255;cw-linf:label=CW"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.eval.eps import parse_eps
from robustlab.core.eval.spec import (
    BLACK_BOX,
    SANITY_CATEGORY,
    SINGLE_STEP,
    AttackSpec,
    _attacks,
)
from robustlab.core.registry import Registry

SUITES: Registry[Callable[..., Suite]] = Registry("suite")

__all__ = [
    "BLACK_BOX",
    "SANITY_CATEGORY",
    "SINGLE_STEP",
    "SUITES",
    "AttackSpec",
    "Suite",
    "resolve_suite",
]


@dataclass
class Suite:
    """A named list of attacks.

    Args:
        name: Suite name recorded in results.
        attacks: The attacks, run in this order.
        worst_case: True: robust accuracy is the worst case over the suite per example and attacks
            after the first only run on examples still robust (reported accuracies are cumulative).
            False: every attack runs on every clean-correct example (accuracies are independent).
    """

    name: str
    attacks: list[AttackSpec]
    worst_case: bool = True

    def __post_init__(self) -> None:
        self.attacks = list(self.attacks)
        if not self.attacks:
            raise ConfigError(f"suite {self.name!r} has no attacks; give at least one AttackSpec")
        labels = [a.label for a in self.attacks]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ConfigError(f"suite {self.name!r} repeats labels {dup}; give each attack a label")

    @property
    def eps(self) -> float | None:
        """The common eps of all attacks, or None if they differ or are not given."""
        values = {a.eps for a in self.attacks}
        return values.pop() if len(values) == 1 else None

    @property
    def norm(self) -> str | None:
        """The common norm of all attacks, or None if they differ."""
        values = {a.norm for a in self.attacks}
        return values.pop() if len(values) == 1 else None

    @classmethod
    def from_list(
        cls,
        attacks: Iterable[AttackSpec | str | Mapping[str, Any]],
        name: str = "custom",
        worst_case: bool = True,
    ) -> Suite:
        """Build a suite from specs, spec strings (``"pgd:steps=20"``) or dicts (:meth:`AttackSpec.to_dict`)."""
        specs = []
        for item in attacks:
            if isinstance(item, AttackSpec):
                specs.append(item)
            elif isinstance(item, str):
                specs.append(AttackSpec.parse(item))
            elif isinstance(item, Mapping):
                specs.append(AttackSpec.from_dict(item))
            else:
                raise ConfigError(
                    f"cannot make an attack from {item!r}; use AttackSpec or 'name:k=v'"
                )
        return cls(name, specs, worst_case)

    @classmethod
    def parse(cls, text: str, worst_case: bool = True) -> Suite:
        """Parse ``"fgsm;pgd:steps=20"`` (attacks separated by ``;``)."""
        parts = [p for p in (s.strip() for s in text.split(";")) if p]
        return cls.from_list(parts, name=text.strip(), worst_case=worst_case)

    def early_stop_plan(self, early_stop: bool | None = None) -> list[bool]:
        """Per attack: whether the evaluation builds it with ``early_stop=True`` added.

        On (``early_stop`` True, or None in worst-case mode) for the attacks that support it
        (:meth:`AttackSpec.early_stops`) and do not set it themselves (``"pgd:early_stop=false"`` keeps it off). An example an
        early-stopping attack fools at some iterate keeps that iterate and leaves the batch.
        """
        on = self.worst_case if early_stop is None else bool(early_stop)
        return [on and "early_stop" not in a.kwargs and a.early_stops() for a in self.attacks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "worst_case": self.worst_case,
            "attacks": [a.to_dict() for a in self.attacks],
        }


def resolve_suite(
    suite: str | Suite | Sequence[AttackSpec | str],
    eps: float | str | None = None,
    norm: str | None = None,
) -> Suite:
    """Turn a suite name, a suite string, a :class:`Suite` or a list of specs into a :class:`Suite`.

    ``eps``/``norm`` are passed to registered suite factories and override the ``eps`` of parsed
    attack strings that do not set one; a ready :class:`Suite` is returned unchanged.
    """
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, str) and (suite in SUITES or ("/" in suite and ":" not in suite)):
        opts: dict[str, Any] = {}
        if eps is not None:
            opts["eps"] = parse_eps(eps)
        if norm is not None:
            opts["norm"] = norm
        return SUITES.build(suite, **opts)
    if isinstance(suite, str) and not any(c in suite for c in ":;,="):
        _check_bare_name(suite)
    out = Suite.parse(suite) if isinstance(suite, str) else Suite.from_list(suite)
    for spec in out.attacks:
        if isinstance(spec.attack, str):
            _attacks().get(spec.attack)  # unknown names fail here, before any work
    if eps is not None:
        for spec in out.attacks:
            spec.kwargs.setdefault("eps", parse_eps(eps))
    if norm is not None:
        for spec in out.attacks:
            spec.kwargs.setdefault("norm", norm)
    for spec in out.attacks:
        if isinstance(spec.attack, str):
            spec.build()  # bad options and values fail here, before any model or data is loaded
    return out


def _check_bare_name(name: str) -> None:
    """A single word must be a suite or an attack name; say which names exist otherwise."""
    if name.strip() in _attacks():
        return
    raise UnknownNameError(
        f"unknown suite {name!r}. Valid suites: {', '.join(SUITES.names())}; or list attacks, "
        f"e.g. 'fgsm;pgd:steps=20' (attacks: {', '.join(_attacks().names())})"
    )


def _default_eps(eps: float | str | None, norm: str) -> float:
    if norm not in {"Linf", "L2"}:
        raise ConfigError(f"norm must be 'Linf' or 'L2', got {norm!r}")
    return parse_eps(eps) if eps is not None else (8 / 255 if norm == "Linf" else 0.5)


def _pgd(eps: float, norm: str, steps: int, label: str, alpha: float | None = None) -> AttackSpec:
    kw: dict[str, Any] = {
        "eps": eps,
        "alpha": alpha if alpha is not None else eps / 4,
        "steps": steps,
    }
    kw["random_start"] = True
    return AttackSpec(label, "pgd" if norm == "Linf" else "pgd-l2", kw)


@SUITES.register("fgsm")
def fgsm_suite(eps: float | str | None = None, norm: str = "Linf") -> Suite:
    """FGSM (Goodfellow et al. 2015), Linf; eps default 8/255."""
    if norm != "Linf":
        raise ConfigError(f"suite 'fgsm' is Linf only, got norm={norm!r}; use suite 'pgd20'")
    return Suite("fgsm", [AttackSpec("FGSM", "fgsm", {"eps": _default_eps(eps, norm)})])


@SUITES.register("pgd20")
def pgd20_suite(
    eps: float | str | None = None, norm: str = "Linf", alpha: float | str | None = None
) -> Suite:
    """PGD-20 with random start (Madry et al. 2018); step alpha = eps/4 (2/255 at 8/255) unless given.

    eps default: 8/255 (Linf) or 0.5 (L2).
    """
    e = _default_eps(eps, norm)
    a = parse_eps(alpha) if alpha is not None else None
    return Suite("pgd20", [_pgd(e, norm, 20, "PGD-20", a)])


@SUITES.register("whitebox")
def whitebox_suite(eps: float | str | None = None, norm: str = "Linf", steps: int = 20) -> Suite:
    """The papers' white-box table: FGSM, PGD-20 and CW-Linf (PGD on the CW margin), each on all
    examples (``worst_case=False``, as the tables report them separately; the worst case is still
    computed per example)."""
    if norm != "Linf":
        raise ConfigError(f"suite 'whitebox' is Linf only (CW-Linf), got norm={norm!r}")
    e = _default_eps(eps, norm)
    attacks = [
        AttackSpec("FGSM", "fgsm", {"eps": e}),
        _pgd(e, norm, steps, f"PGD-{steps}"),
        AttackSpec("CW-Linf", "cw-linf", {"eps": e, "alpha": e / 4, "steps": steps}),
    ]
    return Suite("whitebox", attacks, worst_case=False)


@SUITES.register("autoattack")
def autoattack_suite(
    eps: float | str | None = None,
    norm: str = "Linf",
    version: str = "standard",
    attacks: Sequence[str] | None = None,
) -> Suite:
    """AutoAttack (Croce & Hein 2020) through the official code; eps default 8/255 (Linf) / 0.5 (L2).

    ``attacks`` (e.g. ``["apgd-ce", "apgd-t"]``) selects AutoAttack's custom version; only the
    standard version is reported as RobustBench's ``autoattack_acc``.
    """
    e = _default_eps(eps, norm)
    kwargs: dict[str, Any] = {"eps": e, "norm": norm, "version": version}
    if attacks is not None:
        kwargs.update(version="custom", attacks=list(attacks))
    label = "AutoAttack" if kwargs["version"] == "standard" else f"AutoAttack-{kwargs['version']}"
    return Suite("autoattack", [AttackSpec(label, "autoattack", kwargs)])
