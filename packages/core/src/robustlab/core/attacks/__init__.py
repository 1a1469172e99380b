"""Adversarial attacks: ``attack = ATTACKS.build(name, **kw); x_adv = attack(model, x, y, **ctx)``.

Every attack is built without a model, takes torchattacks-style keywords (``eps``, ``alpha``,
``steps``, ``random_start``, ``norm``, ``targeted``, ``restarts``, ``loss``, ``early_stop``,
``seed``, ``autocast``) and returns ``x_adv`` with the shape and dtype of ``x`` (B, C, H, W), inside
the eps-ball and [0, 1], leaving ``x`` and ``model.training`` unchanged. Losses are per-example
objectives (B,) that attacks maximise (``LOSSES``, ``get_loss``).
"""

from robustlab.core.attacks.base import ATTACKS, Attack
from robustlab.core.attacks.cw_linf import CWLinf
from robustlab.core.attacks.fgsm import FGSM
from robustlab.core.attacks.iterative import IterativeAttack
from robustlab.core.attacks.losses import LOSSES, get_loss
from robustlab.core.attacks.mifgsm import MIFGSM
from robustlab.core.attacks.pgd import BIM, PGD

__all__ = [
    "ATTACKS",
    "BIM",
    "FGSM",
    "LOSSES",
    "MIFGSM",
    "PGD",
    "Attack",
    "CWLinf",
    "IterativeAttack",
    "get_loss",
]
