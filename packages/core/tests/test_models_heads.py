"""Classifier heads and drop operators: shapes, train/eval behaviour and statistics."""

from __future__ import annotations

import pytest
import torch

from robustlab.core.models import (
    Disout,
    DropBlock,
    DropConnectLinear,
    Dropout,
    EmbeddingHead,
    LinearHead,
    MultiSampleDropoutHead,
    NormalizedLinearHead,
    build_head,
)
from robustlab.core.models.drop import block_mask

DROPS = ["dropout", "dropconnect", "dropblock", "disout"]


@pytest.mark.parametrize("drop", DROPS)
def test_msd_samples_shape_train_and_eval(drop: str) -> None:
    torch.manual_seed(0)
    head = MultiSampleDropoutHead(16, 5, k=4, p=0.5, drop=drop)
    feat = torch.randn(3, 16)
    samples = head.forward_samples(feat)
    assert samples.shape == (4, 3, 5)
    assert not torch.allclose(samples[0], samples[1])  # independent masks while training
    torch.manual_seed(1)
    mean = head(feat)
    torch.manual_seed(1)
    torch.testing.assert_close(mean, head.forward_samples(feat).mean(0))
    head.eval()
    ev = head.forward_samples(feat)
    assert ev.shape == (4, 3, 5)
    assert all(torch.equal(ev[0], ev[i]) for i in range(4))
    torch.testing.assert_close(head(feat), head.fc(feat))
    torch.testing.assert_close(ev[0], head(feat))


def test_msd_shares_one_linear_layer_and_backprops() -> None:
    head = MultiSampleDropoutHead(8, 3, k=4)
    assert sum(p.numel() for p in head.parameters()) == 8 * 3 + 3
    feat = torch.randn(5, 8, requires_grad=True)
    head.forward_samples(feat).sum().backward()
    assert feat.grad is not None and head.fc.weight.grad is not None


def test_msd_validation() -> None:
    with pytest.raises(ValueError, match="k"):
        MultiSampleDropoutHead(4, 2, k=0)
    with pytest.raises(ValueError, match="drop must be one of"):
        MultiSampleDropoutHead(4, 2, drop="zoneout")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        MultiSampleDropoutHead(4, 2, p=1.0)


def test_normalized_head_is_scale_invariant_and_bounded() -> None:
    head = NormalizedLinearHead(6, 4, scale=5.0)
    feat = torch.randn(10, 6)
    out = head(feat)
    assert out.abs().max() <= 5.0 + 1e-5
    torch.testing.assert_close(head(feat * 7.0), out)
    w = torch.nn.functional.normalize(head.weight, dim=1)
    cos = torch.nn.functional.normalize(feat, dim=1) @ w.T
    torch.testing.assert_close(out, 5.0 * cos)


def test_embedding_and_linear_heads_and_factory() -> None:
    emb = EmbeddingHead(12, 4, dim=3)
    feat = torch.randn(2, 12)
    assert emb.embed(feat).shape == (2, 3) and emb(feat).shape == (2, 4)
    lin = build_head("linear", 12, 4)
    assert isinstance(lin, LinearHead) and lin.feature_dim == 12 and lin.num_classes == 4
    assert build_head("msd", 12, 4, k=2, drop="disout").k == 2
    with pytest.raises(ValueError, match="bad options"):
        build_head("linear", 12, 4, k=3)


def test_dropout_train_eval() -> None:
    torch.manual_seed(0)
    op = Dropout(0.3)
    x = torch.ones(200, 100)
    y = op(x)
    frac = (y == 0).float().mean().item()
    assert abs(frac - 0.3) < 0.02
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 1 / 0.7))
    assert torch.equal(op.eval()(x), x)
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.5)


def test_dropconnect_masks_weights() -> None:
    torch.manual_seed(0)
    layer = DropConnectLinear(20, 3, p=0.5)
    x = torch.randn(4, 20)
    layer.eval()
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
    layer.train()
    rows = torch.stack([layer(x[:1].expand(2, -1)) for _ in range(2000)])  # (T, 2, 3)
    assert not torch.allclose(rows[:, 0], rows[:, 1])  # one mask per example
    expected = torch.nn.functional.linear(x[:1], layer.weight, layer.bias)
    torch.testing.assert_close(rows.mean((0, 1)), expected[0], atol=0.06, rtol=0)
    layer.per_example = False
    shared = layer(x[:1].expand(2, -1))
    assert torch.equal(shared[0], shared[1])


@pytest.mark.parametrize("shape", [(8, 16, 12, 12), (64, 200)])
def test_dropblock_rate_blocks_and_eval(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    op = DropBlock(drop_prob=0.2, block_size=3)
    x = torch.ones(shape)
    y = op(x)
    dropped = (y == 0).float().mean().item()
    assert 0.12 < dropped < 0.28
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, kept[0].item()))
    torch.testing.assert_close(y.mean(), torch.tensor(1.0))  # rescaled to keep the mean
    assert torch.equal(op.eval()(x), x)


def test_block_mask_drops_whole_blocks() -> None:
    torch.manual_seed(0)
    bs = 3
    mask = block_mask(torch.Size((4, 2, 24, 24)), 0.15, bs, torch.device("cpu"))
    dropped = (mask == 0).float()
    assert dropped.sum() > 0
    # every dropped pixel lies in a fully dropped bs x bs window (windows clipped at the border)
    padded = torch.nn.functional.pad(dropped, (bs - 1,) * 4, value=1.0)
    full = -torch.nn.functional.max_pool2d(-padded, bs, stride=1)
    covered = torch.nn.functional.max_pool2d(full, bs, stride=1)
    assert (covered >= dropped).all()
    with pytest.raises(ValueError, match=r"\(B, D\) or \(B, C, H, W\)"):
        block_mask(torch.Size((2, 3, 4)), 0.1, 2, torch.device("cpu"))


@pytest.mark.parametrize("shape", [(8, 16, 10, 10), (32, 300)])
def test_disout_bounded_distortion(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    op = Disout(dist_prob=0.3, block_size=1, alpha=2.0)
    x = torch.randn(shape) * 3.0 + 1.0
    y = op(x)
    changed = (y != x).float().mean().item()
    assert abs(changed - 0.3) < 0.05
    sigma = x.flatten(1).std(dim=1, unbiased=False).view(-1, *([1] * (x.dim() - 1)))
    assert ((y - x).abs() <= 2.0 * sigma + 1e-5).all()
    assert abs((y - x).mean().item()) < 0.05  # zero-mean noise
    assert torch.equal(op.eval()(x), x)
    with pytest.raises(ValueError, match="alpha"):
        Disout(alpha=0.0)
