"""Classifier heads: (B, D) penultimate features -> (B, C) logits.

Every head exposes ``feature_dim`` (D) and ``num_classes`` (C) so models can check a swap.
``build_head(kind, D, C, **opts)`` builds one by name; ``build(model, head=..., head_opts=...)``
uses it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.models.drop import Disout, DropBlock, Dropout, drop_connect_linear

__all__ = [
    "HEAD_KINDS",
    "EmbeddingHead",
    "LinearHead",
    "MultiSampleDropoutHead",
    "NormalizedLinearHead",
    "build_head",
]


class LinearHead(nn.Linear):
    """The plain affine head ``z = W f + b``; W: (C, D). Keys ``weight``/``bias`` like nn.Linear."""

    def __init__(self, feature_dim: int, num_classes: int, bias: bool = True) -> None:
        super().__init__(feature_dim, num_classes, bias=bias)

    @property
    def feature_dim(self) -> int:
        return self.in_features

    @property
    def num_classes(self) -> int:
        return self.out_features


DROP_KINDS = ("dropout", "dropconnect", "dropblock", "disout")


class MultiSampleDropoutHead(nn.Module):
    """Multi-sample dropout head (Inoue, arXiv:1905.09788): K drop masks over one shared linear layer.

    The backbone runs once; the features are dropped K times independently and passed through
    the same linear layer, giving K sub-network logits z^(k) = W drop_k(f) + b.

    * ``forward_samples(f)`` -> (K, B, C): the K samples (what CTR's MDL loss uses).
    * ``forward(f)`` -> (B, C): training: mean_k z^(k) (the mean of the samples' logits);
      eval: a single deterministic pass W f + b (every sample equals it in eval mode).

    With a ``body`` (the model's hidden fully connected layers, moved into the head by
    ``build(..., head="msd", head_opts={"span": "fc"})``), each sample runs through the whole
    FC stack: z^(k) = W body(drop_k(f)) + b, with f the last conv/pooling output (CTR section 3.2:
    "the output of the last convolutional layer is input to dropout [K] times ... after going
    through all fully connected layers"). The K dropped copies are stacked into one (K*B, D)
    batch, so the body's first linear layer sees K*B rows per forward.

    Args:
        feature_dim: D (the body's input width when there is a body). num_classes: C.
        k: Number of samples K >= 1 (K = 1 is a plain dropout head).
        p: Drop probability of the operator, in [0, 1).
        drop: "dropout" (Srivastava 2014), "dropconnect" (drops the linear layer's weights, Wan
            2013), "dropblock" (1-D blocks of ``block_size`` features, Ghiasi 2018) or "disout"
            (bounded distortion with strength ``alpha``, Tang 2020).
        block_size: Block length for dropblock/disout.
        alpha: Disout distortion strength.
        body: Hidden FC layers (B', D) -> (B', body_dim) between the drop and the output layer;
            None: the output layer alone (the drop acts on the penultimate features). With
            "dropconnect" the weights of the body's first ``nn.Linear`` are dropped (one mask
            per sample).
        body_dim: The body's output width (required with a body).
    """

    def __init__(
        self,
        feature_dim: int,
        num_classes: int,
        k: int = 4,
        p: float = 0.5,
        drop: str = "dropout",
        block_size: int = 3,
        alpha: float = 1.0,
        body: nn.Module | None = None,
        body_dim: int | None = None,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k (number of dropout samples) must be >= 1, got {k}")
        if drop not in DROP_KINDS:
            raise ValueError(f"drop must be one of {DROP_KINDS}, got {drop!r}")
        if (body is None) != (body_dim is None):
            raise ValueError("give body= and body_dim= together (the hidden FC layers and width)")
        self.k = int(k)
        self.p = float(p)
        self.drop_kind = drop
        self.in_dim = int(feature_dim)
        self.body = body
        self.fc = LinearHead(int(body_dim) if body_dim is not None else feature_dim, num_classes)
        if body is not None and drop == "dropconnect":
            layers = self._body_layers(body)
            if not layers or not isinstance(layers[0], nn.Linear):
                raise ValueError(
                    "drop='dropconnect' with a body needs the body to start with an nn.Linear "
                    f"(its weights are dropped); got {type(layers[0]).__name__ if layers else None}"
                )
        self.drop: nn.Module
        if drop == "dropout":
            self.drop = Dropout(p)
        elif drop == "dropblock":
            self.drop = DropBlock(p, block_size)
        elif drop == "disout":
            self.drop = Disout(p, block_size, alpha)
        else:
            if not 0.0 <= p < 1.0:
                raise ValueError(f"p must be in [0, 1), got {p}")
            self.drop = nn.Identity()

    @property
    def feature_dim(self) -> int:
        return self.in_dim

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def _one_sample(self, feat: torch.Tensor) -> torch.Tensor:
        if self.drop_kind == "dropconnect":
            return drop_connect_linear(feat, self.fc.weight, self.fc.bias, self.p, self.training)
        return self.fc(self.drop(feat))

    @staticmethod
    def _body_layers(body: nn.Module) -> list[nn.Module]:
        return [m for m in body.children() if not isinstance(m, nn.Identity)]

    def _body_samples(self, feat: torch.Tensor, body: nn.Module) -> torch.Tensor:
        """(B, D) -> (K, B, C) through the body: K dropped copies as one (K*B, D) batch."""
        b = feat.shape[0]
        if self.drop_kind == "dropconnect":
            first, *rest = self._body_layers(body)
            assert isinstance(first, nn.Linear)  # checked in __init__
            outs = []
            for _ in range(self.k):  # one weight mask per sample on the first FC layer
                h = drop_connect_linear(
                    feat, first.weight, first.bias, self.p, self.training, per_example=False
                )
                for m in rest:
                    h = m(h)
                outs.append(self.fc(h))
            return torch.stack(outs)
        rows = self.drop(feat.repeat(self.k, *([1] * (feat.dim() - 1))))  # (K*B, D)
        return self.fc(body(rows)).view(self.k, b, -1)

    def forward_samples(self, feat: torch.Tensor) -> torch.Tensor:
        """The K sub-network logits for features ``feat`` (B, D): returns (K, B, C)."""
        if not self.training:
            out = self.fc(feat if self.body is None else self.body(feat))
            return out.unsqueeze(0).expand(self.k, -1, -1)
        if self.body is not None:
            return self._body_samples(feat, self.body)
        return torch.stack([self._one_sample(feat) for _ in range(self.k)])

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, C): mean of the K samples' logits (train), single pass (eval)."""
        if not self.training:
            return self.fc(feat if self.body is None else self.body(feat))
        return self.forward_samples(feat).mean(dim=0)


class NormalizedLinearHead(nn.Module):
    """Cosine head: ``z_c = s * <f / |f|, w_c / |w_c|>`` (L2-normalised features and weights).

    Logits lie in [-s, s]. Used by normalised-softmax losses (NormFace/ArcFace-style, I-SCE's
    feature normalisation).

    Args:
        feature_dim: D. num_classes: C.
        scale: s > 0, the logit scale.
    """

    def __init__(self, feature_dim: int, num_classes: int, scale: float = 16.0) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(num_classes, feature_dim))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    @property
    def feature_dim(self) -> int:
        return self.weight.shape[1]

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.scale * F.linear(F.normalize(feat, dim=1), F.normalize(self.weight, dim=1))


class EmbeddingHead(nn.Module):
    """An extra low-dimensional embedding before the classifier: f -> e = E f (dim) -> z = W e + b.

    The I-SCE paper visualises a 3-D embedding layer inserted before the output layer;
    :meth:`embed` returns e (B, dim) for such plots.

    Args:
        feature_dim: D. num_classes: C.
        dim: Embedding width (3 for the paper's plots).
    """

    def __init__(self, feature_dim: int, num_classes: int, dim: int = 3) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.embedding = nn.Linear(feature_dim, dim)
        self.fc = nn.Linear(dim, num_classes)

    @property
    def feature_dim(self) -> int:
        return self.embedding.in_features

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def embed(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, dim) embedding."""
        return self.embedding(feat)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(feat))


HEAD_KINDS: dict[str, type[nn.Module]] = {
    "linear": LinearHead,
    "msd": MultiSampleDropoutHead,
    "normalized": NormalizedLinearHead,
    "embedding": EmbeddingHead,
}


def build_head(kind: str, feature_dim: int, num_classes: int, **opts: Any) -> nn.Module:
    """Build a head by name: "linear", "msd" (multi-sample dropout), "normalized", "embedding".

    Raises:
        ValueError: for an unknown kind (the message lists the valid ones) or bad options.
    """
    try:
        cls = HEAD_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown head kind {kind!r}; valid kinds: {', '.join(HEAD_KINDS)}"
        ) from None
    try:
        return cls(feature_dim, num_classes, **opts)
    except TypeError as err:
        raise ValueError(f"bad options {sorted(opts)} for head {kind!r}: {err}") from None
