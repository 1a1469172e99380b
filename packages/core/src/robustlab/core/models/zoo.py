"""The model registry ``MODELS`` and ``build``: name + options -> :class:`Classifier`.

Factories are registered with :func:`register_model` and take ``num_classes``, ``in_channels``
and model-specific keyword options. ``build`` adds the options every model shares: ``mean=``/
``std=`` (input normalisation layer) and ``head=``/``head_opts=`` (replace the classifier head).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.models.base import Classifier
from robustlab.core.models.heads import build_head
from robustlab.core.models.map_drop import add_map_drop
from robustlab.core.registry import Registry

__all__ = ["MODELS", "ModelSpec", "build", "model_spec", "names", "register_model"]

ModelFactory = Callable[..., Classifier]

MODELS: Registry[ModelFactory] = Registry("model")


@dataclass(frozen=True)
class ModelSpec:
    """What a registered model expects: its natural input and whether it is costly on a CPU.

    Attributes:
        input_size: Natural (C, H, W) input, e.g. (1, 28, 28) for LeNet-5.
        heavy: True for models whose CPU forward/backward takes seconds (tests use the meta device).
    """

    input_size: tuple[int, int, int] = (3, 32, 32)
    heavy: bool = False


_SPECS: dict[str, ModelSpec] = {}


def register_model(
    name: str, *, input_size: tuple[int, int, int] = (3, 32, 32), heavy: bool = False
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering a factory ``f(num_classes, in_channels, **opts) -> Classifier``.

    Args:
        name: Registry name (paper packages prefix theirs, e.g. "ctr/...").
        input_size: The model's natural (C, H, W) input.
        heavy: Mark models that are slow on CPU (tests then check shapes on the meta device).
    """

    def deco(fn: ModelFactory) -> ModelFactory:
        MODELS.register(name, fn)
        _SPECS[name] = ModelSpec(tuple(input_size), heavy)  # type: ignore[arg-type]
        return fn

    return deco


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (defaults for models registered without one)."""
    MODELS.get(name)
    return _SPECS.get(name, ModelSpec())


def names() -> list[str]:
    """Sorted names of every registered model (paper packages' included)."""
    return MODELS.names()


def _check_opts(name: str, factory: ModelFactory, opts: dict[str, Any]) -> None:
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [p for p in params if p not in ("num_classes", "in_channels")]
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        shared = ["mean", "std", "head", "head_opts", "map_drop"]
        raise ConfigError(
            f"unknown option(s) {unknown} for model {name!r}; valid options: "
            f"{', '.join(valid + shared)}"
        )


def build(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    head: str | None = None,
    head_opts: dict[str, Any] | None = None,
    map_drop: dict[str, Any] | None = None,
    **opts: Any,
) -> Classifier:
    """Build a registered model.

    Args:
        name: A name from :func:`names` (unknown names raise ``UnknownNameError`` listing them).
        num_classes: Number of logits K.
        in_channels: Input channels (1 for grey-scale, 3 for colour).
        mean: Per-channel means; with ``std`` adds ``Normalize`` as the first layer.
        std: Per-channel standard deviations (> 0).
        head: Head kind for :func:`build_head` ("linear", "msd", "normalized", "embedding");
            None keeps the model's own linear head.
        head_opts: Options of that head, e.g. ``{"k": 4, "p": 0.5, "drop": "dropout"}``. For
            "msd", ``"span": "fc"`` moves the model's hidden FC layers into the head
            (:meth:`Classifier.take_fc_stack`), so the K samples drop the last conv/pooling output
            and each runs through every FC layer (CTR's MDL); the default ``"span": "last"``
            drops the penultimate features before the output layer only.
        map_drop: Drop operator on intermediate feature maps, e.g. ``{"kind": "dropblock",
            "drop_prob": 0.1, "block_size": 5, "after": ["layer3", "layer4"]}`` (see
            :func:`~robustlab.core.models.map_drop.add_map_drop`; default stage: the last conv
            stage). The state dict is unchanged.
        **opts: Model-specific options (``image_size``, ``dropout``, ``sub_block1``, ...).

    Returns:
        The model (a :class:`Classifier`) in training mode, on the CPU (or the current default
        device, e.g. inside ``with torch.device("meta")``).

    Raises:
        UnknownNameError: unknown ``name``. ConfigError: unknown option. ValueError: bad value.
    """
    factory = MODELS.get(name)
    if in_channels < 1 or num_classes < 1:
        raise ValueError(
            f"in_channels and num_classes must be >= 1, got {in_channels} and {num_classes}"
        )
    _check_opts(name, factory, opts)
    model = factory(num_classes=num_classes, in_channels=in_channels, **opts)
    if not isinstance(model, Classifier):
        raise TypeError(f"model factory {name!r} returned {type(model).__name__}, not a Classifier")
    model.set_normalization(mean, std, in_channels)
    if head is not None:
        hopts = dict(head_opts or {})
        span = hopts.pop("span", "last")
        if span not in ("last", "fc") or (span == "fc" and head != "msd"):
            raise ConfigError(
                f"head_opts span={span!r} is not valid for head {head!r}: use span='last', or "
                f"span='fc' with head='msd' (samples through the whole FC stack)"
            )
        if span == "fc" and (taken := model.take_fc_stack()) is not None:
            hopts |= {"body": taken[0], "body_dim": taken[1]}
        model.set_head(build_head(head, model.feature_dim, num_classes, **hopts))
    elif head_opts:
        raise ConfigError("head_opts= needs head= (the head kind it configures)")
    if map_drop:
        add_map_drop(model, **map_drop)
    model.arch = name
    model.build_config = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "mean": None if mean is None else [float(v) for v in mean],
        "std": None if std is None else [float(v) for v in std],
        "head": head,
        "head_opts": dict(head_opts or {}),
        "map_drop": None if not map_drop else dict(map_drop),
        **opts,
    }
    return model
