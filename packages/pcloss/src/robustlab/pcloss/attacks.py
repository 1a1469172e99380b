"""Black-box transfer from a substitute model that is a dependency run of the run store.

The paper's black-box attacks (Table 3) craft PGD/MIM on a substitute model trained on the same
data (a 3-layer CNN for LeNet-5, ResNet-56 for VGG-13) and evaluate them on the target. Core's
``transfer`` attack needs the substitute as an ``nn.Module``; an evaluation suite, however, must
stay plain data (it is hashed and stored with the run). The substitute is therefore a dependency
run of the target (``RunSpec.needs = {"substitute": <run id>}``): the runner trains it once in
the run store, shared by the CE, PC, GCE, ... targets of a dataset, and replaces the attack's
``source_run=need_ref("substitute")`` by the substitute's finished training run directory, which
``pcloss/transfer`` loads with :func:`robustlab.core.train.load_run`.

Crafted once per substitute, not per target. A transfer example depends on the substitute, the
attack and the test image, never on the target, so every target of a dataset can share it.
The test split is cut into fixed blocks of :data:`BLOCK` images. The first request for a row
crafts its whole block on the substitute: the seed comes from the attack settings and the block
index, not from the evaluation. The block is stored in ``<source_run>/transfer-cache/`` (atomic
writes). Each row of a batch is found by its exact bytes and label, so the result of a row does
not depend on which target asked first, on batch composition, or on a resume. Rows that are not
test images of the substitute's dataset are crafted directly, with the evaluation's seed.
Measured on the fmnist profile: README, "Results".
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, Attack
from robustlab.core.attacks.transfer import Transfer
from robustlab.core.utils import atomic_write_bytes, config_hash, get_logger

__all__ = ["BLOCK", "SubstituteTransfer", "crafted_block"]

log = get_logger(__name__)
#: Test images per crafted block (fixed: it is part of what a cached example depends on).
BLOCK = 1000
CACHE_DIR = "transfer-cache"
_MODELS: dict[str, nn.Module] = {}
_INDEX: dict[str, tuple[Tensor, Tensor, dict[bytes, int]]] = {}
_BLOCKS: dict[tuple[str, str, int], Tensor] = {}


def _substitute(source_run: str) -> nn.Module:
    key = str(Path(source_run).resolve())
    if key not in _MODELS:
        from robustlab.core.train import load_run

        log.info("black-box substitute: loading %s", source_run)
        _MODELS[key] = load_run(source_run, device="cpu").model.eval()
    return _MODELS[key]


def _row_key(row: Tensor) -> bytes:
    return hashlib.sha1(row.detach().cpu().contiguous().numpy().tobytes()).digest()


def _test_split(source_run: str) -> tuple[Tensor, Tensor, dict[bytes, int]]:
    """The substitute dataset's test split (x, y) and the index row bytes -> position."""
    key = str(Path(source_run).resolve())
    if key not in _INDEX:
        from robustlab.core.data import load

        cfg = json.loads((Path(source_run) / "config.json").read_text())
        data = load(cfg["dataset"], split="test", root=cfg.get("data_root"))
        x, y = data.x.float(), data.y.long()
        _INDEX[key] = (x, y, {_row_key(row): i for i, row in enumerate(x)})
    return _INDEX[key]


@functools.cache
def _checkpoint_digest(source_run: str) -> str:
    """Digest of the substitute's checkpoint, read once per process and run directory."""
    run = Path(source_run)
    ckpt = run / json.loads((run / "metrics.json").read_text())["checkpoint"]
    return hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]


def _read_block(path: Path) -> Tensor | None:
    """A stored block, or None when there is none or it cannot be read (then it is crafted
    again and replaced)."""
    if not path.exists():
        return None
    try:
        x_adv = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file: say so and craft the block again
        log.warning("transfer cache %s is unreadable (%s); crafting the block again", path, exc)
        return None
    return x_adv if isinstance(x_adv, Tensor) else None


def crafted_block(
    source_run: str,
    attack: str,
    kwargs: dict[str, Any],
    block: int,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Transfer examples of test block ``block`` (images ``block * BLOCK`` on), crafted on the
    substitute with ``attack(**kwargs)`` (no seed: it derives from the settings and ``block``).

    Looked up in memory, then in ``<source_run>/transfer-cache/``, else crafted on ``device``
    and stored.

    Returns:
        x_adv (n, C, H, W) in [0, 1] on the CPU, n = BLOCK (fewer for the last block).
    """
    settings = {"attack": attack, "kwargs": kwargs, "block_size": BLOCK}
    digest = _checkpoint_digest(str(Path(source_run).resolve()))
    tag = config_hash({**settings, "substitute": digest}, length=16)
    mem = (str(Path(source_run).resolve()), tag, block)
    if mem in _BLOCKS:
        return _BLOCKS[mem]
    path = Path(source_run) / CACHE_DIR / f"{tag}-{block}.pt"
    x_adv = _read_block(path)
    if x_adv is None:
        x, y, _ = _test_split(source_run)
        xb, yb = x[block * BLOCK : (block + 1) * BLOCK], y[block * BLOCK : (block + 1) * BLOCK]
        seed = int(config_hash({**settings, "block": block}, length=7), 16)
        source = _substitute(source_run).to(device)
        inner = ATTACKS.build(attack, **kwargs, seed=seed)
        log.info("transfer %s: crafting test block %d on %s", attack, block, source_run)
        x_adv = Transfer(inner, source=source)(source, xb.to(device), yb.to(device)).cpu()
        buf = io.BytesIO()
        torch.save(x_adv, buf)
        atomic_write_bytes(path, buf.getvalue())
    _BLOCKS[mem] = x_adv
    return x_adv


class SubstituteTransfer(Attack):
    """Core's transfer attack with the substitute loaded from its finished training run.

    Args:
        source_run: The substitute's finished training run directory (in a paper's RunSpec:
            ``need_ref("substitute")``, resolved by the runner).
        attack: Inner attack name ("pgd", "mifgsm", ...), crafted on the substitute.
        **attack_kwargs: Inner attack options (eps, alpha, steps, seed, ...).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W) inside the inner eps-ball.
    """

    name = "pcloss/transfer"
    kind: ClassVar[str] = "transfer"
    norms: ClassVar[tuple[str, ...]] = ("Linf", "L2")

    def __init__(
        self, source_run: str | None = None, attack: str = "pgd", **attack_kwargs: Any
    ) -> None:
        if not isinstance(source_run, str) or not source_run:
            raise ValueError(
                "source_run must be the substitute's finished training run directory (in a "
                f"RunSpec: need_ref('substitute') with needs={{'substitute': <run id>}}), got {source_run!r}"
            )
        self.inner = ATTACKS.build(attack, **attack_kwargs)
        super().__init__(self.inner.eps, norm=self.inner.norm, seed=self.inner.seed)
        self.source_run = source_run
        self.attack = attack
        self.block_kwargs = {k: v for k, v in attack_kwargs.items() if k != "seed"}

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        rows = self._test_rows(x, y) if not self.inner.targeted else None
        if rows is None:  # not (all) test images of the substitute's dataset: craft directly
            source = _substitute(self.source_run).to(x.device)
            transfer = Transfer(self.inner, source=source)
            return transfer(model, x, y, **{k: v for k, v in ctx.items() if k != "logits_clean"})
        out = torch.empty_like(x)
        for block in torch.unique(rows // BLOCK).tolist():
            mine = (rows // BLOCK == block).nonzero().squeeze(1)
            crafted = crafted_block(
                self.source_run, self.attack, self.block_kwargs, block, x.device
            )
            out[mine] = crafted[rows[mine] - block * BLOCK].to(device=x.device, dtype=x.dtype)
        return out

    def _test_rows(self, x: Tensor, y: Tensor) -> Tensor | None:
        """Positions of the rows of ``x`` in the substitute's test split, or None if one is not
        a test image (or its label differs)."""
        tx, ty, index = _test_split(self.source_run)
        pos = [index.get(_row_key(row.to(tx.dtype))) for row in x]
        if any(p is None for p in pos) or x.shape[1:] != tx.shape[1:]:
            return None
        rows = torch.tensor(pos, dtype=torch.long)
        if not torch.equal(ty[rows], y.cpu()):
            return None
        return rows.to(x.device)

    def __repr__(self) -> str:
        return f"SubstituteTransfer({self.inner!r}, source={self.source_run})"


@ATTACKS.register("pcloss/transfer")
def _substitute_transfer(**kwargs: Any) -> SubstituteTransfer:
    return SubstituteTransfer(**kwargs)
