"""robustlab-ctr: Confidence Threshold Reduction (Yang et al., arXiv:2206.00913).

The losses are importable directly (``from robustlab.ctr import MDLoss, std_loss``). The
training methods (``ctr/...`` in ``robustlab.core.train.METHODS``), attacks (``ctr/s-pgd``, ...),
analyses and the reproduction ``PAPER`` are registered when ``robustlab.ctr.paper`` is imported,
which core does through the ``robustlab.papers`` entry point.
"""

from robustlab.ctr.losses import (
    MDLoss,
    MDLTerms,
    SCEAttackLoss,
    SKLAttackLoss,
    sce_loss,
    skl_loss,
    std_attack_loss,
    std_loss,
)

__version__ = "0.1.0"

__all__ = [
    "MDLTerms",
    "MDLoss",
    "SCEAttackLoss",
    "SKLAttackLoss",
    "__version__",
    "sce_loss",
    "skl_loss",
    "std_attack_loss",
    "std_loss",
]
