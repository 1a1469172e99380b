"""robustlab-pcloss: Probabilistically Compact loss with logit constraints (Li et al., AAAI 2021).

Importing this module gives the losses only. The training methods (``pcloss/pc``, ...), the
evaluation suites (``pcloss/whitebox-gray``, ...) and the paper's tables are registered in the
core registries when ``robustlab.pcloss.paper`` is imported, which core does through the
``robustlab.papers`` entry point.
"""

from __future__ import annotations

from robustlab.pcloss.losses import (
    GCELoss,
    PCLoss,
    gce_loss,
    logit_constraint_loss,
    pc_loss,
    pc_true_logit_grad,
)

__version__ = "0.1.0"

__all__ = [
    "GCELoss",
    "PCLoss",
    "__version__",
    "gce_loss",
    "logit_constraint_loss",
    "pc_loss",
    "pc_true_logit_grad",
]
