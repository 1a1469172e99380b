"""One attack of a suite: :class:`AttackSpec` (label, registered attack name or factory, settings)
and its text form ``"name:key=value,..."`` (``"pgd:steps=20,alpha=2/255,label=PGD-20"``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.eval.eps import format_eps, parse_eps
from robustlab.core.registry import Registry, accepted_options

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

    def takes(self, option: str) -> bool:
        """Whether the attack's factory takes the keyword ``option`` (read from the signatures,
        see ``robustlab.core.registry.accepted_options``); False for an unknown attack name."""
        try:
            factory = _attacks().get(self.attack) if isinstance(self.attack, str) else self.attack
        except UnknownNameError:
            return False
        return option in accepted_options(factory)

    def early_stops(self) -> bool:
        """Whether the attack can stop fooled examples early: its factory takes ``early_stop``
        and the class it builds, when known, declares ``early_stop_support`` (an attack class that
        only accepts the option, such as the official AutoAttack wrapper, does not)."""
        if not self.takes("early_stop"):
            return False
        cls = self._attack_class()
        return cls is None or bool(getattr(cls, "early_stop_support", True))

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


def _attacks() -> Registry[Any]:
    from robustlab.core.attacks import ATTACKS

    return ATTACKS
