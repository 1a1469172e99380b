"""Core zoo models with the paper's heads and the Random input defence, registered as ``isce/<base>``.

``robustlab.core.models.build`` only knows core head kinds, so a model whose head is I-SCE's, L-GM's
or MMC's (or that sits behind Xie et al.'s random resize-and-pad layer) is its own registered model:
``isce/lenet5`` (Fig. 10-12 shallow net, Fashion-MNIST analog), ``isce/resnet32`` (sec. 4, ResNet-32
on MNIST/CIFAR-10) and ``isce/cifar-cnn8`` (sec. 4.3's eight-layer CNN). Its options are recorded in
``build_config``, so ``load_model`` rebuilds it (the ``MODELS`` registry loads this package on the
unknown name). Training methods set them through ``model_overrides`` (see :mod:`robustlab.isce.methods`).

Options of every ``isce/<base>`` model:

* ``classifier``: "linear" (SCE, center loss, AT, label smoothing), "isce" (:class:`ISCEHead`),
  "lgm" (:class:`LGMHead`), "mmc" (:class:`MMCHead`), "normalized" (ArcFace's cosine head, core),
  "embedding" (core 3-D embedding + linear).
* ``classifier_opts``: that head's options (``normalize``, ``embed_dim``, ``c_mm``, ``scale``...).
* ``defence``: "none" or "random" (Xie et al. 2018; active in eval mode only: a test-time defence).
* ``defence_opts``: ``max_size`` / ``mode`` of :func:`robustlab.isce.defences.random_resize_pad`.

Shapes: forward x (B, C, H, W) in [0, 1] -> logits (B, K); ``features`` -> (B, D) of the base.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.models import Classifier, build, build_head, register_model
from robustlab.isce.defences import MODES, random_resize_pad
from robustlab.isce.heads import ISCEHead, LGMHead, MMCHead

__all__ = ["BASES", "CLASSIFIERS", "DEFENCES", "ISCEClassifier", "RandomInput", "make_head"]

CLASSIFIERS = ("linear", "isce", "lgm", "mmc", "normalized", "embedding")
DEFENCES = ("none", "random")
#: Registered name -> (core base model, natural input size, heavy on CPU).
BASES: dict[str, tuple[str, tuple[int, int, int], bool]] = {
    "isce/lenet5": ("lenet5", (1, 28, 28), False),
    "isce/resnet32": ("resnet32", (3, 32, 32), True),
    "isce/cifar-cnn8": ("cifar-cnn8", (3, 32, 32), False),
}
_OWN_HEADS: dict[str, type[nn.Module]] = {"isce": ISCEHead, "lgm": LGMHead, "mmc": MMCHead}


def make_head(kind: str, feature_dim: int, num_classes: int, **opts: Any) -> nn.Module:
    """A head of :data:`CLASSIFIERS`: (B, feature_dim) -> (B, num_classes).

    Raises:
        ConfigError: unknown kind (lists the valid ones) or options that head does not take.
    """
    if kind not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {kind!r}; valid: {', '.join(CLASSIFIERS)}")
    if kind in _OWN_HEADS:
        try:
            return _OWN_HEADS[kind](feature_dim, num_classes, **opts)
        except TypeError as err:
            raise ConfigError(f"bad classifier_opts {sorted(opts)} for {kind!r}: {err}") from None
    try:
        return build_head(kind, feature_dim, num_classes, **opts)
    except ValueError as err:
        raise ConfigError(str(err)) from None


class RandomInput(nn.Module):
    """Xie et al.'s random resize-and-pad, then resize back to H x W; identity in training mode.

    Args:
        max_size: Canvas side S (None: round(max(H, W) * 331 / 299), at least max(H, W) + 1).
        mode: "nearest" (Xie et al.) or "bilinear" for the random resize.
    """

    def __init__(self, max_size: int | None = None, mode: str = "nearest") -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"defence_opts mode must be one of {MODES}, got {mode!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ConfigError(
                f"defence_opts max_size must be None or an int >= 2, got {max_size!r}"
            )
        self.max_size = max_size
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H, W): randomised in eval mode, unchanged in training mode."""
        if self.training:
            return x
        h, w = x.shape[-2:]
        side = max(h, w)
        size = (
            self.max_size if self.max_size is not None else max(side + 1, round(side * 331 / 299))
        )
        z = random_resize_pad(x, size, mode=self.mode)
        return F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)


class ISCEClassifier(Classifier):
    """A core zoo backbone with one of the paper's heads and an optional input defence.

    Args:
        backbone: A core :class:`Classifier` (its own head is dropped; its features are used).
        num_classes: K.
        classifier: A kind of :data:`CLASSIFIERS`. classifier_opts: its options.
        defence: "none" or "random". defence_opts: options of :class:`RandomInput`.
    """

    def __init__(
        self,
        backbone: Classifier,
        num_classes: int,
        classifier: str = "linear",
        classifier_opts: dict[str, Any] | None = None,
        defence: str = "none",
        defence_opts: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone.feature_dim, num_classes)
        if defence not in DEFENCES:
            raise ConfigError(f"unknown defence {defence!r}; valid: {', '.join(DEFENCES)}")
        if defence == "none" and defence_opts:
            raise ConfigError("defence_opts needs defence='random'")
        backbone.head = nn.Identity()  # unused: its parameters would never get a gradient
        self.backbone = backbone
        if backbone.map_drop_stage:  # DropBlock/Disout go where the backbone's would
            self.map_drop_stage = f"backbone.{backbone.map_drop_stage}"  # type: ignore[misc]
        self.defence: nn.Module = (
            RandomInput(**(defence_opts or {})) if defence == "random" else nn.Identity()
        )
        self.head = make_head(
            classifier, backbone.feature_dim, num_classes, **(classifier_opts or {})
        )

    def forward_features(self, x: Tensor) -> Tensor:
        """Normalised input (B, C, H, W) -> (B, D): defence (eval mode), then the backbone."""
        return self.backbone.forward_features(self.defence(x))


def _register(name: str, base: str, size: tuple[int, int, int], heavy: bool) -> None:
    @register_model(name, input_size=size, heavy=heavy)
    def factory(
        num_classes: int = 10,
        in_channels: int = size[0],
        classifier: str = "linear",
        classifier_opts: dict[str, Any] | None = None,
        defence: str = "none",
        defence_opts: dict[str, Any] | None = None,
    ) -> Classifier:
        backbone = build(base, num_classes=num_classes, in_channels=in_channels)
        return ISCEClassifier(
            backbone, num_classes, classifier, classifier_opts, defence, defence_opts
        )

    factory.__doc__ = (
        f"Core {base!r} with an isce head/defence (options: see robustlab.isce.models)."
    )


for _name, (_base, _size, _heavy) in BASES.items():
    _register(_name, _base, _size, _heavy)
