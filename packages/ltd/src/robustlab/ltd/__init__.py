"""robustlab-ltd: Low Temperature Distillation (Chen & Lee, arXiv:2111.02331).

The contribution's math is importable directly (``from robustlab.ltd import LTDLoss``): eq. 28,
the teacher's soft labels (on the fly or cached per training index) and the temperature-search
selection rules of section 4.3. The methods (``ltd/trades-ltd``, ``ltd/awp-ltd``) are core's TRADES
and AWP-TRADES with the ``ltd/soft-ce`` objective; the BatchNorm update orders of section 3.5 are
core TRADES's ``bn_order`` option. Everything is registered through the ``robustlab.papers`` entry
point (``robustlab.ltd.paper``).
"""

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
    "TABLE6_TAUS",
    "LTDLoss",
    "LTDTerms",
    "SoftLabelCache",
    "__version__",
    "select_tau_best",
    "select_tau_max",
    "soft_cross_entropy",
    "soft_label_cross_entropy",
    "soft_labels",
    "taus_up_to",
    "teacher_accuracy",
    "teacher_logits",
    "trades_kl",
]
