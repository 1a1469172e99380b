"""Adversarial attacks: ``attack = ATTACKS.build(name, **kw); x_adv = attack(model, x, y, **ctx)``.

Every attack is built without a model, takes torchattacks-style keywords (``eps``, ``alpha``,
``steps``, ``random_start``, ``norm``, ``targeted``, ``restarts``, ``loss``, ``early_stop``,
``seed``, ``autocast``) and returns ``x_adv`` with the shape and dtype of ``x`` (B, C, H, W), inside
the eps-ball and [0, 1], leaving ``x`` and ``model.training`` unchanged. Losses are per-example
objectives (B,) that attacks maximise (``LOSSES``, ``get_loss``).

Registered names: fgsm, fgsm-rs, bim, pgd, pgd-l2, mifgsm, apgd-ce, apgd-dlr, apgd-t, cw-linf, cw-l2,
deepfool, simba, spsa, square, autoattack, transfer.
"""

from robustlab.core.attacks.apgd import APGD
from robustlab.core.attacks.autoattack import AutoAttack
from robustlab.core.attacks.base import ATTACKS, Attack
from robustlab.core.attacks.cw_l2 import CWL2
from robustlab.core.attacks.cw_linf import CWLinf
from robustlab.core.attacks.deepfool import DeepFool
from robustlab.core.attacks.fgsm import FGSM
from robustlab.core.attacks.iterative import IterativeAttack
from robustlab.core.attacks.losses import LOSSES, LossFn, get_loss
from robustlab.core.attacks.mifgsm import MIFGSM
from robustlab.core.attacks.pgd import BIM, PGD
from robustlab.core.attacks.simba import SimBA
from robustlab.core.attacks.spsa import SPSA
from robustlab.core.attacks.square import Square
from robustlab.core.attacks.transfer import Transfer

__all__ = [
    "APGD",
    "ATTACKS",
    "BIM",
    "CWL2",
    "FGSM",
    "LOSSES",
    "MIFGSM",
    "PGD",
    "SPSA",
    "Attack",
    "AutoAttack",
    "CWLinf",
    "DeepFool",
    "IterativeAttack",
    "LossFn",
    "SimBA",
    "Square",
    "Transfer",
    "get_loss",
]
