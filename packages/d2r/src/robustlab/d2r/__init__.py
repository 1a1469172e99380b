"""robustlab-d2r: D2R, dual regularization loss with collaborative adversarial generation
(Liu, Liang, Ranjan, Zhu, Snasel, Ojha; arXiv 2506.07056; official code lusti-Yu/D2R).

Importing the package registers, in core's registries: the attack ``d2r/cag`` (``ATTACKS``), its
attack loss ``d2r/cag-kl`` (``robustlab.core.attacks.LOSSES``) and the objective ``d2r/d2r``
(``robustlab.core.losses.OBJECTIVES``, the D2R loss for core LBGAT's ``objective`` hook), and
the training methods ``d2r/d2r`` and ``d2r/d2r-cag`` (core LBGAT with the D2R loss, and CAG for
the latter; ``robustlab.core.train.METHODS``). The paper object (tables, claims, profiles) is
``robustlab.d2r.paper:PAPER``, the ``robustlab.papers`` entry point ``d2r``:
``robustlab reproduce d2r --profile quick`` / ``nox -s reproduce-d2r``.
"""

from robustlab.d2r.attacks import CAG_DEFAULTS, CAGAttack, cag_kl_loss, preserve_modes
from robustlab.d2r.losses import KL_REDUCTIONS, D2RLoss, D2RTerms
from robustlab.d2r.methods import D2R, D2R_OBJECTIVE, D2RCAG, d2r_objective

__version__ = "0.2.0"

__all__ = [
    "CAG_DEFAULTS",
    "D2R",
    "D2RCAG",
    "D2R_OBJECTIVE",
    "KL_REDUCTIONS",
    "CAGAttack",
    "D2RLoss",
    "D2RTerms",
    "__version__",
    "cag_kl_loss",
    "d2r_objective",
    "preserve_modes",
]
