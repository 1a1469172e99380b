"""Teacher outputs for LTD: on the fly (:func:`teacher_logits`) or cached per training index
(:class:`SoftLabelCache`), section 4.2 ("generated in advance or on-fly").

The cache stores the teacher's *logits*, not its probabilities: one cache then serves every
temperature (Table 6 sweeps tau with one teacher). It holds the teacher's outputs on the
un-augmented training images, so it equals the on-the-fly labels only when the student's batches
are not augmented (Fashion-MNIST: no augmentation; CIFAR crop+flip: use on-the-fly labels).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robustlab.ltd.losses import check_logits, soft_labels

__all__ = ["SoftLabelCache", "teacher_accuracy", "teacher_logits"]


def teacher_logits(teacher: nn.Module, x: Tensor) -> Tensor:
    """The frozen teacher's logits on x: eval mode, no gradient; the teacher's mode is restored.

    Args:
        teacher: The naturally trained teacher (same architecture as the student).
        x: (B, C, H, W) clean inputs in [0, 1].

    Returns:
        (B, K) float32 logits without gradient.
    """
    was = teacher.training
    teacher.eval()
    try:
        with torch.no_grad():
            out: Tensor = teacher(x)
    finally:
        teacher.train(was)
    return out.float()


def _check_labels(y: Tensor, n: int, num_classes: int) -> None:
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"labels must have shape ({n},), got {tuple(y.shape)}")
    if y.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes, found values in "
            f"[{int(y.min())}, {int(y.max())}]"
        )


def teacher_accuracy(logits: Tensor, y: Tensor) -> float:
    """Accuracy in percent (0-100) of logits (N, K) against labels y (N,) in [0, K)."""
    check_logits(logits, "teacher_logits")
    _check_labels(y, logits.shape[0], logits.shape[1])
    return 100.0 * float((logits.argmax(-1) == y.to(logits.device)).float().mean())


class SoftLabelCache:
    """Teacher logits per training index (labels "generated in advance", section 4.2).

    Args:
        logits: (N, K) teacher logits of the N training images, in training-set order.
    """

    def __init__(self, logits: Tensor) -> None:
        check_logits(logits, "teacher_logits")
        self._logits = logits.detach().float().cpu().contiguous()

    @classmethod
    def from_teacher(
        cls,
        teacher: nn.Module,
        x: Tensor,
        batch_size: int = 512,
        device: torch.device | str | None = None,
    ) -> SoftLabelCache:
        """Run the frozen teacher over x (N, C, H, W) in [0, 1] in batches (eval, no gradient).

        Args:
            teacher: The teacher, already on ``device`` (it is not moved).
            x: The training images, un-augmented, in training-set order.
            batch_size: Images per forward pass (>= 1).
            device: Where the batches are sent (default: the teacher's parameters' device).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if device is None:
            p = next(teacher.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
        parts = [
            teacher_logits(teacher, x[i : i + batch_size].to(device)).cpu()
            for i in range(0, x.shape[0], batch_size)
        ]
        if not parts:
            raise ValueError("x is empty: the cache needs at least one training image")
        return cls(torch.cat(parts))

    def __len__(self) -> int:
        return int(self._logits.shape[0])

    @property
    def num_classes(self) -> int:
        """K, the number of classes of the cached logits."""
        return int(self._logits.shape[1])

    def _check_index(self, index: Tensor) -> None:
        if index.dim() != 1 or index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(
                f"index must be a 1-D integer tensor of training indices, got shape "
                f"{tuple(index.shape)} dtype {index.dtype}"
            )
        n = len(self)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
            raise ValueError(
                f"training index out of range [0, {n}): got [{int(index.min())}, "
                f"{int(index.max())}]; the cache was built on another (smaller) training set"
            )

    def logits(self, index: Tensor) -> Tensor:
        """(B, K) cached teacher logits of training examples ``index`` (B,), on index's device."""
        self._check_index(index)
        return self._logits[index.cpu()].to(index.device)

    def soft_labels(self, index: Tensor, tau: float) -> Tensor:
        """(B, K) soft labels ``softmax(z_teacher / tau)`` (eq. 4) of the examples ``index``."""
        return soft_labels(self.logits(index), tau)

    def accuracy(self, y: Tensor) -> float:
        """The teacher's accuracy (percent) on the cached images given their labels y (N,)."""
        return teacher_accuracy(self._logits, y.cpu())

    def state_dict(self) -> dict[str, Tensor]:
        """``{"logits": (N, K)}`` for checkpointing with a run."""
        return {"logits": self._logits.clone()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> SoftLabelCache:
        """Inverse of :meth:`state_dict`."""
        if "logits" not in state:
            raise ValueError("soft-label cache state has no 'logits' entry")
        return cls(state["logits"])
