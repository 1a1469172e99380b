"""robustlab-ltd: Low Temperature Distillation (Chen & Lee, arXiv:2111.02331).

Phase 1: the contribution's math, importable directly (``from robustlab.ltd import LTDLoss``),
the BatchNorm update orders of section 3.5, the teacher's soft labels (on the fly or cached per
training index), the temperature-search selection rules of section 4.3, and the BatchNorm LeNet-5
``ltd/lenet5-bn`` (registered when ``robustlab.ltd.models`` is imported). Training methods,
tables, profiles and the ``robustlab.papers`` entry point come in phase 2.
"""

from robustlab.ltd.bn import BN_ORDERS, attack_bn_mode, frozen_bn, student_forward
from robustlab.ltd.labels import SoftLabelCache, teacher_accuracy, teacher_logits
from robustlab.ltd.losses import (
    LTDLoss,
    LTDTerms,
    soft_cross_entropy,
    soft_label_cross_entropy,
    soft_labels,
    trades_kl,
)
from robustlab.ltd.tau_search import TABLE6_TAUS, select_tau_best, select_tau_max, taus_up_to

__version__ = "0.2.0"

__all__ = [
    "BN_ORDERS",
    "TABLE6_TAUS",
    "LTDLoss",
    "LTDTerms",
    "SoftLabelCache",
    "__version__",
    "attack_bn_mode",
    "frozen_bn",
    "select_tau_best",
    "select_tau_max",
    "soft_cross_entropy",
    "soft_label_cross_entropy",
    "soft_labels",
    "student_forward",
    "taus_up_to",
    "teacher_accuracy",
    "teacher_logits",
    "trades_kl",
]
