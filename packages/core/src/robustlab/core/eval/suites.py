"""Attack suites: which attacks an evaluation runs, with which settings, under which labels.

A suite is a list of :class:`AttackSpec` (label, registered attack name, keyword arguments) plus
whether accuracy is the worst case over the suite per example (AutoAttack's protocol: attacks after
the first only run on examples still robust) or each attack is reported on all examples (the way
paper tables list FGSM, PGD-20 and CW separately).

Suites are registered by name in :data:`SUITES` as factories taking ``eps`` and ``norm``; a suite
can also be written as text, ``"fgsm;pgd:steps=20,alpha=2/255;cw-linf:label=CW"``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.eval.eps import format_eps, parse_eps
from robustlab.core.registry import Registry

SUITES: Registry[Callable[..., Suite]] = Registry("suite")

#: Sanity-check category of each attack ``kind`` (``Attack.kind``, see ``attacks.base.KINDS``):
#: the weak side of "iterative at least as strong as single-step" and the side of "white-box at
#: least as strong as black-box" an attack is on.
SANITY_CATEGORY = {
    "single-step": "single-step",
    "iterative": "iterative",
    "optimization": "iterative",
    "ensemble": "iterative",
    "black-box": "black-box",
    "transfer": "black-box",
}
#: Fallback for attack classes that do not declare ``kind`` yet (paper packages written before
#: the attribute existed): the registered base name decides. Declared kinds always win.
BLACK_BOX = frozenset({"square", "simba", "spsa", "transfer"})
SINGLE_STEP = frozenset({"fgsm", "fgsm-rs"})
#: Keys whose values are perturbation sizes and may be written as fractions ("2/255").
_EPS_KEYS = frozenset({"eps", "alpha", "eps_step", "step_size"})
_INT = re.compile(r"^[-+]?\d+$")


@dataclass
class AttackSpec:
    """One attack of a suite.

    Args:
        label: Name shown in results ("PGD-20"); unique within a suite.
        attack: A name in ``robustlab.core.attacks.ATTACKS``, or a factory callable returning an
            ``attack(model, x, y) -> x_adv`` callable (for attacks that are not registered).
        kwargs: Constructor keyword arguments (torchattacks names: eps, alpha, steps, ...).
    """

    label: str
    attack: str | Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise ConfigError(f"AttackSpec label must be a non-empty string, got {self.label!r}")
        if not (isinstance(self.attack, str) and self.attack) and not callable(self.attack):
            raise ConfigError(
                f"AttackSpec {self.label!r}: attack must be a registered attack name or a "
                f"factory callable, got {self.attack!r}"
            )
        self.kwargs = dict(self.kwargs)
        if "eps" in self.kwargs:
            self.kwargs["eps"] = parse_eps(self.kwargs["eps"])

    @property
    def name(self) -> str:
        """The registered attack name (or the factory's qualified name)."""
        if isinstance(self.attack, str):
            return self.attack
        return getattr(self.attack, "__qualname__", type(self.attack).__name__)

    @property
    def eps(self) -> float | None:
        """The budget in pixel space, when given in the settings."""
        return self.kwargs.get("eps")

    @property
    def norm(self) -> str:
        """The threat model's norm: the ``norm`` setting, else the attack's default norm."""
        if "norm" in self.kwargs:
            return str(self.kwargs["norm"])
        built = self._probe()
        if built is not None and isinstance(getattr(built, "norm", None), str):
            return str(built.norm)
        norms = getattr(self._attack_class(), "norms", None)
        return str(norms[0]) if norms else "Linf"

    @property
    def attack_kind(self) -> str:
        """The attack class's declared ``kind`` (one of ``attacks.base.KINDS``), or "" if unknown."""
        built = self._probe()
        cls = type(built) if built is not None else self._attack_class()
        return str(getattr(cls, "kind", "") or "")

    @property
    def kind(self) -> str:
        """Sanity-check category: "single-step", "iterative" or "black-box".

        From the attack class's ``kind`` (:data:`SANITY_CATEGORY`); an iterative attack run with
        ``steps=1`` counts as single-step. Classes that declare no kind fall back to the name.
        """
        declared = self.attack_kind
        if declared in SANITY_CATEGORY:
            if declared == "iterative" and self.kwargs.get("steps") == 1:
                return "single-step"
            return SANITY_CATEGORY[declared]
        base = self.name.split("/")[-1]
        if base in BLACK_BOX:
            return "black-box"
        if base in SINGLE_STEP or self.kwargs.get("steps") == 1:
            return "single-step"
        return "iterative"

    def _attack_class(self) -> type | None:
        """The class the attack factory returns (from its annotation), without building it."""
        from robustlab.core.registry import returned_class

        if not isinstance(self.attack, str):
            return returned_class(self.attack)
        try:
            return returned_class(_attacks().get(self.attack))
        except UnknownNameError:  # e.g. a paper package that is not installed
            return None

    def _probe(self) -> Any:
        """The attack built from the settings (cheap: attacks are built without a model), or None
        when it cannot be built without more context (e.g. ``transfer`` without its source)."""
        try:
            return self.build()
        except Exception:  # only used to read class attributes; build() reports errors
            return None

    def build(self, seed: int | None = None, **extra: Any) -> Callable[..., Any]:
        """Construct the attack: ``ATTACKS.get(name)(**kwargs, **extra)`` or ``factory(...)``.

        Args:
            seed: Passed as ``seed=`` when the settings do not fix one and the factory takes it
                (registered attacks all do), so that each batch's randomness is reproducible.

        Raises:
            UnknownOptionError: a setting the attack does not take (the message lists the valid
                ones), e.g. ``"pgd:stepz=5"``.
        """
        kwargs = {**self.kwargs, **extra}
        registered = isinstance(self.attack, str)
        factory = _attacks().get(self.attack) if isinstance(self.attack, str) else self.attack
        if seed is not None and "seed" not in kwargs and _takes_seed(factory, registered):
            kwargs["seed"] = seed
        if isinstance(self.attack, str):  # unknown options -> UnknownOptionError listing valid ones
            return _attacks().build(self.attack, **kwargs)
        return factory(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (eps written back as a string like "8/255")."""
        kwargs = {
            k: (format_eps(v) if k in _EPS_KEYS and _is_num(v) else v)
            for k, v in self.kwargs.items()
        }
        return {"label": self.label, "attack": self.name, "kwargs": kwargs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AttackSpec:
        """Inverse of :meth:`to_dict` for registered attacks."""
        kwargs = {
            k: (parse_eps(v) if k in _EPS_KEYS else v) for k, v in d.get("kwargs", {}).items()
        }
        return cls(d["label"], d["attack"], kwargs)

    @classmethod
    def parse(cls, text: str) -> AttackSpec:
        """Parse ``"name[:key=value,...]"``, e.g. ``"pgd:steps=20,eps=8/255,label=PGD-20"``.

        Values are read as bool (true/false), None (none), int, float, fraction ("2/255") or text.
        The reserved key ``label`` names the attack in results (default: the text itself).

        Raises:
            ConfigError: for an empty name or a setting without ``=``.
        """
        name, _, rest = text.strip().partition(":")
        name = name.strip()
        if not name:
            raise ConfigError(f"attack spec {text!r} has no attack name; write e.g. 'pgd:steps=20'")
        kwargs: dict[str, Any] = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(
                    f"attack setting {item!r} in {text!r} is not key=value; write e.g. 'steps=20'"
                )
            kwargs[key.strip()] = _parse_value(key.strip(), value.strip())
        label = str(kwargs.pop("label", text.strip()))
        return cls(label, name, kwargs)


def _takes_seed(factory: Callable[..., Any], registered: bool) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "seed" or (registered and p.kind is inspect.Parameter.VAR_KEYWORD) for p in params
    )


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _parse_value(key: str, value: str) -> Any:
    low = value.lower()
    if low in {"true", "false"}:
        return low == "true"
    if low == "none":
        return None
    if key in _EPS_KEYS or "/" in value:
        try:
            return parse_eps(value)
        except ValueError:
            if key in _EPS_KEYS:
                raise
            return value
    if _INT.match(value):
        return int(value)
    try:
        return float(value)
    except ValueError:
        return value


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


def _attacks() -> Registry[Any]:
    from robustlab.core.attacks import ATTACKS

    return ATTACKS


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
