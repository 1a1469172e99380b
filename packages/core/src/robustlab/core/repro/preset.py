"""A paper's settings as data: :class:`Preset` (one training setting) and :class:`Profile`.

A :class:`Preset` is one training phase of a paper, with every value visible: the method and its
options, every ``TrainConfig`` field it sets (no factor applied behind the reader's back), the
command that runs it and the result it is compared with. ``preset.train_config()`` is the
``TrainConfig`` the run uses.

A :class:`Profile` is one reproduction budget ("quick", "fmnist", "paper"): a name, the budget
statement printed at the top of the report, and the paper's own settings as keyword arguments,
read as attributes (``profile.at_eps``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.train import TrainConfig

__all__ = ["Preset", "Profile"]

_RESERVED = ("method", "method_opts")


@dataclass(frozen=True)
class Preset:
    """One training setting of a paper, every value visible.

    Attributes:
        method: Registered training method ("natural", "trades", "ctr/mdl", ...).
        method_opts: The method's options (e.g. ``{"eps": 0.1, "gamma": 2.0}``).
        config: Every other ``TrainConfig`` field the run sets (dataset, model, epochs, lr, ...);
            fields left out keep ``TrainConfig``'s defaults.
        command: The command that runs it (e.g. "robustlab reproduce ctr --profile fmnist
            --tables 1").
        expected: What it is compared with: the printed value with table/row/column, or a claim.

    Example:
        >>> p = Preset("natural", config={"dataset": "digits-28", "model": "lenet5", "epochs": 2})
        >>> p.train_config().epochs
        2
    """

    method: str
    method_opts: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    expected: str = ""

    def __post_init__(self) -> None:
        valid = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(self.config) - valid)
        reserved = sorted(set(self.config) & set(_RESERVED))
        if reserved:
            raise ConfigError(
                f"Preset {self.method!r}: give {', '.join(reserved)} as Preset arguments, not in config"
            )
        if unknown:
            raise ConfigError(
                f"Preset {self.method!r}: unknown TrainConfig field(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(valid - set(_RESERVED)))}"
            )

    def __getattr__(self, key: str) -> Any:
        """Config fields read as attributes (``preset.epochs``); TrainConfig's default if unset."""
        if key.startswith("_"):
            raise AttributeError(key)
        config = self.__dict__.get("config", {})
        if key in config:
            return config[key]
        defaults = {f.name: f for f in dataclasses.fields(TrainConfig)}
        if key in defaults:
            f = defaults[key]
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
        raise AttributeError(f"Preset has no attribute or TrainConfig field {key!r}")

    def train_config(self) -> TrainConfig:
        """The ``TrainConfig`` of this setting: method, options and ``config``, nothing else.

        Raises:
            ConfigError: an invalid value (TrainConfig's own validation).
        """
        return TrainConfig(method=self.method, method_opts=dict(self.method_opts), **self.config)

    def replace(self, **changes: Any) -> Preset:
        """A copy with ``method``/``method_opts``/``command``/``expected`` or config fields changed."""
        own = {
            k: changes.pop(k)
            for k in list(changes)
            if k in {f.name for f in dataclasses.fields(self)}
        }
        config = {**self.config, **own.pop("config", {}), **changes}
        return dataclasses.replace(self, config=config, **own)

    @property
    def doc(self) -> str:
        """The command and the expected result first, then the settings."""
        return f"{self.command}  ->  {self.expected}\n{self!r}"


@dataclass(frozen=True, init=False)
class Profile:
    """A reproduction budget: name, the report's budget statement and the paper's settings.

    ``Profile("quick", "QUICK PROFILE ...", nt_epochs=4, at_eps=0.1)``: the settings are the
    paper package's own names, read as attributes (``profile.nt_epochs``). Profiles compare and
    hash by value, so a builder can be cached per profile.

    Attributes:
        name: "quick", "fmnist" or "paper" (see DESIGN.md, Profiles).
        description: The budget statement shown at the top of the report.
        settings: The paper's settings (read-only mapping; use :meth:`replace` to vary one).
    """

    name: str
    description: str
    settings: Mapping[str, Any]

    def __init__(self, name: str, description: str, **settings: Any) -> None:
        if not name:
            raise ConfigError("Profile needs a name ('quick', 'fmnist' or 'paper')")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "settings", dict(settings))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        settings = self.__dict__.get("settings", {})
        if key in settings:
            return settings[key]
        raise AttributeError(
            f"profile {self.__dict__.get('name')!r} has no setting {key!r} "
            f"(it has: {', '.join(sorted(settings)) or 'none'})"
        )

    def __hash__(self) -> int:
        return hash((self.name, self.description, tuple(sorted(self.settings))))

    def replace(self, **changes: Any) -> Profile:
        """A copy with ``name``/``description`` or settings changed (e.g. a smoke-test budget).

        Raises:
            ConfigError: a change names a setting the profile does not have (a typo).
        """
        name = changes.pop("name", self.name)
        description = changes.pop("description", self.description)
        unknown = sorted(set(changes) - set(self.settings))
        if unknown:
            raise ConfigError(
                f"profile {self.name!r} has no setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(self.settings))}"
            )
        return Profile(name, description, **{**self.settings, **changes})

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"Profile({self.name!r}, {body})"
