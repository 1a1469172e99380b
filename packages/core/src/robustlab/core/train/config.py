"""``TrainConfig``: every setting of one training run, validated on construction.

A config is plain data (JSON round-trip through :meth:`TrainConfig.to_dict` /
:meth:`TrainConfig.from_dict`); unknown keys and values of the wrong type raise
:class:`~robustlab.core.errors.ConfigError` naming the key, the valid keys or values and the fix.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from robustlab.core.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SELECT_BEST = ("none", "val", "test")
SELECT_METRICS = ("auto", "clean", "robust")


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        dataset: Dataset name (``robustlab.core.data.DATASETS``).
        model: Model name (``robustlab.core.models.MODELS``).
        method: Training method (``METHODS``); ``method_opts`` are its keyword options.
        model_opts: Extra keyword options of ``models.build`` (``mean``, ``std``, ``head``...).
        epochs: Number of passes over the training set (>= 1).
        batch_size: Examples per optimiser step (>= 1).
        optimizer: "sgd" (momentum, Nesterov, weight decay) or "adam" (L2 weight decay).
        lr: Base (maximum) learning rate (> 0).
        momentum: SGD momentum in [0, 1). nesterov: Nesterov momentum (SGD only).
        weight_decay: L2 coefficient (>= 0) on every parameter.
        schedule: A name in ``schedules.SCHEDULES`` ("constant", "multistep", "cyclic",
            "piecewise", "lbgat", or a paper package's); ``schedule_opts`` are its options.
        warmup: A name in ``schedules.WARMUPS``: "none", or a paper package's (e.g. "ctr/eq29",
            the CTR paper's eq. 29 warm-up factor).
        precision: "auto" (bf16 on CPUs with native bf16 support, fp16 on CUDA, else fp32),
            "fp32", "bf16" or "fp16" (CUDA only; uses a gradient scaler). The training attacks
            of adversarial methods follow it (method option ``attack_autocast="auto"``: bf16
            for bf16 and, where the GPU has it, fp16 runs); validation attacks stay fp32.
        channels_last: Memory layout of conv models; None picks it with the precision.
        seed: One seed for weights, data order, augmentation and attack randomness.
        deterministic: Ask torch for deterministic kernels (slower on GPU).
        val_fraction: Fraction of the training set held out for validation (0 disables).
        select_best: Keep the best epoch by "val" (needs val_fraction > 0), "test" (labelled as
            test-set selection in the metrics) or "none" (last epoch).
        select_metric: "clean", "robust" (the method's validation attack) or "auto" (robust for
            adversarial methods, clean otherwise).
        n_train: Use the first n training examples (None = all). n_test: first n test examples.
        grad_clip: Clip the global gradient norm to this value (None = off).
        augment: True / False / None (None = the dataset's default augmentation).
        init_from: A checkpoint (``*.safetensors`` or a run directory) whose model weights start
            this run, with a fresh optimiser (e.g. the PC-loss run after its CE warm-up).
        data_root: Directory searched first for the dataset files.
        needs: Role -> finished run directory or checkpoint file this run depends on (a
            teacher, a guide...); checked when training starts (missing or unfinished ->
            ConfigError) and given to the method as ``TrainContext.needs`` (``load_need``).
    """

    dataset: str = "fashion-mnist"
    model: str = "mnistnet"
    method: str = "natural"
    method_opts: dict[str, Any] = field(default_factory=dict)
    model_opts: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    schedule_opts: dict[str, Any] = field(default_factory=dict)
    warmup: str = "none"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: bool | None = None
    seed: int = 0
    deterministic: bool = False
    val_fraction: float = 0.0
    select_best: Literal["none", "val", "test"] = "none"
    select_metric: Literal["auto", "clean", "robust"] = "auto"
    n_train: int | None = None
    n_test: int | None = None
    grad_clip: float | None = None
    augment: bool | None = None
    init_from: str | None = None
    data_root: str | None = None
    needs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if (
                isinstance(value, int)
                and not isinstance(value, bool)
                and _accepts_float(hints[f.name])
            ):
                value = float(value)
                setattr(self, f.name, value)
            _check_type(f.name, value, hints[f.name])
        self._check_values()

    def _check_values(self) -> None:
        _need(self.epochs >= 1, "epochs", self.epochs, "an int >= 1")
        _need(self.batch_size >= 1, "batch_size", self.batch_size, "an int >= 1")
        _need(self.lr > 0, "lr", self.lr, "a float > 0")
        _need(0.0 <= self.momentum < 1.0, "momentum", self.momentum, "a float in [0, 1)")
        _need(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a float >= 0")
        _need(self.seed >= 0, "seed", self.seed, "an int >= 0")
        _need(
            0.0 <= self.val_fraction < 1.0, "val_fraction", self.val_fraction, "a float in [0, 1)"
        )
        _need(self.n_train is None or self.n_train >= 1, "n_train", self.n_train, "None or >= 1")
        _need(self.n_test is None or self.n_test >= 1, "n_test", self.n_test, "None or >= 1")
        _need(
            self.grad_clip is None or self.grad_clip > 0, "grad_clip", self.grad_clip, "None or > 0"
        )
        from robustlab.core.train.schedules import check_names

        check_names(self.schedule, self.warmup)
        for role, path in self.needs.items():
            _need(isinstance(path, str) and bool(path), f"needs[{role!r}]", path, "a path string")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError("nesterov=True needs optimizer='sgd' and momentum > 0")
        if self.select_best == "val" and self.val_fraction == 0:
            raise ConfigError(
                "select_best='val' needs a validation split: set val_fraction > 0 (e.g. 0.1)"
            )

    @classmethod
    def valid_keys(cls) -> list[str]:
        """The field names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys raise ConfigError listing the valid ones."""
        if not isinstance(d, dict):
            raise ConfigError(f"a TrainConfig needs a dict, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.valid_keys()))
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig key(s) {unknown}; valid keys: {', '.join(cls.valid_keys())}"
            )
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (nested dicts copied). Empty ``needs`` is left out, so runs
        without dependencies keep the dict (and config hash) they had before the key existed."""
        d = dataclasses.asdict(self)
        if not d["needs"]:
            del d["needs"]
        return d

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated; unknown keys rejected)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def _need(ok: bool, key: str, value: Any, what: str) -> None:
    if not ok:
        raise ConfigError(f"TrainConfig.{key} must be {what}, got {value!r}")


def _accepts_float(tp: Any) -> bool:
    return tp is float or (_is_union(tp) and float in get_args(tp))


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


def _matches(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if _is_union(tp):
        return any(_matches(value, t) for t in get_args(tp))
    if origin is Literal:
        return value in get_args(tp)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, float)
    return isinstance(value, tp)


def _describe(tp: Any) -> str:
    if _is_union(tp):
        return " or ".join(_describe(t) for t in get_args(tp))
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(tp))
    if tp is type(None):
        return "None"
    if get_origin(tp) is dict:
        return "a dict with string keys"
    return getattr(tp, "__name__", str(tp))


def _check_type(key: str, value: Any, tp: Any) -> None:
    if not _matches(value, tp):
        raise ConfigError(
            f"TrainConfig.{key} must be {_describe(tp)}, got {value!r} ({type(value).__name__})"
        )
