"""pcloss/transfer: black-box transfer from a substitute loaded from its finished run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlab.core.attacks import ATTACKS
from robustlab.core.attacks.transfer import Transfer
from robustlab.core.data import find, load
from robustlab.core.models import build
from robustlab.core.train import TrainConfig, train
from robustlab.pcloss import attacks  # registers pcloss/transfer

KW = {"attack": "pgd", "eps": 0.1, "alpha": 0.02, "steps": 3}


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 16 test images (1000 in use) and empty in-memory caches."""
    monkeypatch.setattr(attacks, "BLOCK", 16)
    monkeypatch.setattr(attacks, "_BLOCKS", {})


def _substitute_run(tmp_path: Path) -> Path:
    if find("fashion-mnist", "train", None)[0] is None:
        pytest.skip("Fashion-MNIST is not on disk (robustlab data ensure fashion-mnist)")
    cfg = TrainConfig(
        dataset="fashion-mnist",
        model="cnn3",
        epochs=1,
        batch_size=128,
        optimizer="adam",
        lr=0.01,
        precision="fp32",
        n_train=256,
        n_test=64,
    )
    run = tmp_path / "substitute"
    train(cfg, run, device="cpu", progress=False)
    return run


def test_transfer_loads_the_substitute_run_and_stays_in_the_ball(
    tmp_path: Path, one_thread: None, small_blocks: None
) -> None:
    run = _substitute_run(tmp_path)
    data = load("fashion-mnist", "test", n=32)
    target = build("lenet5", num_classes=10, in_channels=1).eval()
    kw = {
        "source_run": str(run),
        "attack": "pgd",
        "eps": 0.1,
        "alpha": 0.02,
        "steps": 3,
        "seed": 0,
    }
    attack = ATTACKS.build("pcloss/transfer", **kw)
    x = data.x.clone()
    x_adv = attack(target, x, data.y)
    assert torch.equal(x, data.x)  # input untouched
    assert (x_adv - x).abs().amax() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()
    # a second attack with the same run reuses the loaded substitute (same output)
    again = ATTACKS.build("pcloss/transfer", **kw)(target, x, data.y)
    assert torch.equal(again, x_adv)


def test_transfer_needs_a_source_run() -> None:
    with pytest.raises(ValueError, match="source_run"):
        ATTACKS.build("pcloss/transfer", attack="pgd", eps=0.1)


def test_transfer_examples_are_crafted_once_per_substitute_and_image(
    tmp_path: Path, one_thread: None, small_blocks: None
) -> None:
    """A test image's transfer example depends on the substitute, the attack and the image only:
    not on the evaluation seed, the batch it comes in (other targets keep other rows), or the
    process (the block is read back from the run's transfer-cache/)."""
    run = _substitute_run(tmp_path)
    data = load("fashion-mnist", "test", n=48)
    target = build("lenet5", num_classes=10, in_channels=1).eval()
    first = ATTACKS.build("pcloss/transfer", source_run=str(run), seed=1, **KW)
    full = first(target, data.x, data.y)
    files = sorted((run / attacks.CACHE_DIR).iterdir())
    assert len(files) == 3  # blocks 0, 1, 2 of 16 images
    rows = torch.tensor([40, 3, 17, 5, 33])  # another target's clean-correct rows, any order
    attacks._BLOCKS.clear()  # as in a new process: read from disk
    other = ATTACKS.build("pcloss/transfer", source_run=str(run), seed=7, **KW)
    assert torch.equal(other(target, data.x[rows], data.y[rows]), full[rows])
    assert sorted((run / attacks.CACHE_DIR).iterdir()) == files  # nothing crafted again
    files[0].write_bytes(b"damaged")  # a damaged block is crafted again, identically
    attacks._BLOCKS.clear()
    again = ATTACKS.build("pcloss/transfer", source_run=str(run), seed=2, **KW)
    assert torch.equal(again(target, data.x[:16], data.y[:16]), full[:16])
    # each block is the inner attack run on exactly that block, with its own derived seed
    inner_kw = {k: v for k, v in KW.items() if k != "attack"}
    block1 = attacks.crafted_block(str(run), "pgd", inner_kw, 1)
    assert torch.equal(block1, full[16:32])
    assert (block1 - data.x[16:32]).abs().amax() <= 0.1 + 1e-6


def test_transfer_of_other_images_is_crafted_directly(
    tmp_path: Path, one_thread: None, small_blocks: None
) -> None:
    """Rows that are not test images of the substitute's dataset (or carry another label) are
    crafted on the spot with the evaluation's seed, exactly as core's transfer attack does."""
    run = _substitute_run(tmp_path)
    data = load("fashion-mnist", "test", n=8)
    x = (data.x + 0.01).clamp(0, 1)
    target = build("lenet5", num_classes=10, in_channels=1).eval()
    ours = ATTACKS.build("pcloss/transfer", source_run=str(run), seed=3, **KW)(target, x, data.y)
    source = attacks._substitute(str(run))
    inner_kw = {k: v for k, v in KW.items() if k != "attack"}
    ref = Transfer(ATTACKS.build("pgd", **inner_kw, seed=3), source=source)(target, x, data.y)
    assert torch.equal(ours, ref)
    assert not (run / attacks.CACHE_DIR).exists()
    wrong = (data.y + 1) % 10
    rows = ATTACKS.build("pcloss/transfer", source_run=str(run), seed=3, **KW)._test_rows
    assert rows(data.x, wrong) is None and rows(x, data.y) is None
    assert torch.equal(rows(data.x, data.y), torch.arange(8))
