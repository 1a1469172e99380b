"""The :class:`Classifier` interface every zoo model implements, plus the input ``Normalize`` layer.

A classifier is split into a feature extractor and a replaceable head::

    logits = model(x) = model.head(model.features(x))      # x: (B, C, H, W) in [0, 1]

``features`` applies the input normalisation layer first (identity unless the model was built
with ``mean=``/``std=``), so attacks always work in pixel space.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["Classifier", "Normalize", "conv_out"]


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial size after a convolution or pooling layer: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` as the first layer of a model.

    The statistics are persistent buffers, so a checkpoint carries the normalisation it was
    trained with.

    Args:
        mean: Per-channel means, length ``in_channels`` (or 1, broadcast to every channel).
        std: Per-channel standard deviations, same length rules, all > 0.
        in_channels: Number of input channels C.

    Shape:
        (B, C, H, W) -> (B, C, H, W).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float], in_channels: int) -> None:
        super().__init__()
        m = torch.as_tensor(list(mean), dtype=torch.float32).flatten()
        s = torch.as_tensor(list(std), dtype=torch.float32).flatten()
        for label, t in (("mean", m), ("std", s)):
            if t.numel() not in (1, in_channels):
                raise ValueError(
                    f"{label} has {t.numel()} values but the model has in_channels={in_channels}; "
                    f"give one value per channel (or a single value for all channels)"
                )
        if bool((s <= 0).any()):
            raise ValueError(f"std must be > 0 for every channel, got {s.tolist()}")
        self.register_buffer("mean", m.expand(in_channels).clone().view(1, -1, 1, 1))
        self.register_buffer("std", s.expand(in_channels).clone().view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class Classifier(nn.Module, abc.ABC):
    """Base class of every zoo model: ``forward(x) = head(features(x))``.

    Subclasses build their layers and implement :meth:`forward_features`, which maps the
    *normalised* input (B, C, H, W) to penultimate features (B, feature_dim).

    Attributes:
        normalize: Input normalisation (``nn.Identity`` or :class:`Normalize`), applied first.
        head: Maps (B, feature_dim) -> (B, num_classes); replace it with :meth:`set_head`.
        feature_dim: D, the width of the penultimate features.
        num_classes: K, the number of logits.
        arch: The registry name the model was built from (set by ``build``; "" otherwise).
        build_config: The arguments ``build`` received (JSON-serialisable), stored in checkpoints.
        reference_key_map: Prefix renames that map the reference implementation's state-dict
            keys onto ours (e.g. ``{"fc.": "head."}``); used by ``load_checkpoint`` by name.
        map_drop_stage: Name of the last convolutional stage, where ``add_map_drop`` puts
            DropBlock/Disout by default.
        fc_stack_name: Attribute holding the hidden fully connected layers between the last
            conv/pooling output and the head ("" for models with a single FC layer, e.g. ResNets).
        conv_dim: Width of the flattened last conv/pooling output (the input of the FC stack).
    """

    reference_key_map: ClassVar[dict[str, str]] = {}
    map_drop_stage: ClassVar[str] = ""
    fc_stack_name: ClassVar[str] = ""

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.feature_dim = int(feature_dim)
        self.num_classes = int(num_classes)
        self.normalize: nn.Module = nn.Identity()
        self.arch = ""
        self.build_config: dict[str, Any] = {}
        self.conv_dim = int(feature_dim)

    def take_fc_stack(self) -> tuple[nn.Module, int] | None:
        """Move the hidden FC layers out of the backbone (for a head that runs them per sample).

        Afterwards ``features()`` ends at the last conv/pooling output, (B, conv_dim), and
        ``feature_dim`` is ``conv_dim``. Used by ``build(head="msd", head_opts={"span": "fc"})``
        so that multi-sample dropout (CTR's MDL, section 3.2) drops the last conv output and runs
        every sample through all FC layers.

        Returns:
            (the FC stack, (B', conv_dim) -> (B', its output width), that width), or None for a
            model without hidden FC layers (nothing changes; its features already are the last
            pooling output).
        """
        if not self.fc_stack_name:
            return None
        stack = getattr(self, self.fc_stack_name)
        if isinstance(stack, nn.Identity):
            raise ValueError(f"{type(self).__name__}'s FC stack was already moved into the head")
        width = self.feature_dim
        setattr(self, self.fc_stack_name, nn.Identity())
        self.feature_dim = self.conv_dim
        return stack, width

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone on the normalised input: (B, C, H, W) -> (B, feature_dim)."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features of raw inputs ``x`` in [0, 1]: (B, C, H, W) -> (B, D)."""
        return self.forward_features(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of raw inputs ``x`` (B, C, H, W) in [0, 1]."""
        return self.head(self.features(x))

    def set_head(self, head: nn.Module) -> None:
        """Replace the classifier head; updates ``num_classes`` from the new head.

        Raises:
            ValueError: if the head declares an input width different from ``feature_dim``.
        """
        in_dim = getattr(head, "feature_dim", getattr(head, "in_features", None))
        if in_dim is not None and int(in_dim) != self.feature_dim:
            raise ValueError(
                f"head expects {in_dim} input features but {type(self).__name__} produces "
                f"feature_dim={self.feature_dim}; build the head with feature_dim={self.feature_dim}"
            )
        out_dim = getattr(head, "num_classes", getattr(head, "out_features", None))
        self.head = head
        if out_dim is not None:
            self.num_classes = int(out_dim)

    def set_normalization(
        self,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        in_channels: int | None = None,
    ) -> None:
        """Install (or remove, with ``None``/``None``) the input normalisation layer.

        Args:
            mean: Per-channel means (or one value for all channels).
            std: Per-channel standard deviations, > 0.
            in_channels: C; defaults to ``len(mean)``.
        """
        if mean is None and std is None:
            self.normalize = nn.Identity()
            return
        if mean is None or std is None:
            raise ValueError("give both mean= and std= (or neither) to normalise the input")
        channels = len(list(mean)) if in_channels is None else int(in_channels)
        self.normalize = Normalize(mean, std, channels)
