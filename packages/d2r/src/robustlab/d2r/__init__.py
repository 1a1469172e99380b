"""robustlab-d2r: D2R, dual regularization loss with collaborative adversarial generation
(Liu, Liang, Ranjan, Zhu, Snasel, Ojha; arXiv 2506.07056; official code lusti-Yu/D2R).

Importing the package registers, in core's registries: the attack ``d2r/cag`` (``ATTACKS``), its
attack loss ``d2r/cag-kl`` (``robustlab.core.attacks.LOSSES``) and the objective ``d2r/d2r``
(``robustlab.core.losses.OBJECTIVES``, the D2R loss for core LBGAT's ``objective`` hook).
The loss is importable directly (``from robustlab.d2r import D2RLoss``). Training methods, tables,
profiles and the ``robustlab.papers`` entry point come in phase 2 (see the README).
"""

from robustlab.d2r.attacks import CAG_DEFAULTS, CAGAttack, cag_kl_loss, preserve_modes
from robustlab.d2r.losses import KL_REDUCTIONS, D2RLoss, D2RTerms

__version__ = "0.1.0"

__all__ = [
    "CAG_DEFAULTS",
    "KL_REDUCTIONS",
    "CAGAttack",
    "D2RLoss",
    "D2RTerms",
    "__version__",
    "cag_kl_loss",
    "preserve_modes",
]
