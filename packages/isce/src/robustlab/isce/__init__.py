"""robustlab-isce: Inference-Softmax Cross Entropy (Song, Wang, He & Zhou, Mathematics 2022).

Phase 1 provides the paper's math and its competitors as plain modules any core model can use:

* losses: :class:`ISCELoss` (eq. 4), :class:`SCELoss`, :class:`LabelSmoothingLoss`,
  :func:`isce_loss`, :func:`inference_logits` (eqs. 2-3);
* competitors: :class:`CenterLoss`, :class:`LGMLoss`, :class:`ArcFaceLoss` (with core's
  ``NormalizedLinearHead``), :class:`MMCLoss`;
* heads: :class:`ISCEHead` (``normalize="features" | "logits" | "none"``, optional 3-D embedding for
  Fig. 9), :class:`LGMHead`, :class:`MMCHead`, :func:`max_mahalanobis_centers`;
* wrappers: :class:`InferenceSoftmax` (attack P_I instead of the logits), :class:`RandomResizePad`
  (Xie et al.'s input defence).

Training methods, presets, tables and the plugin entry point come in phase 2.
"""

from __future__ import annotations

from robustlab.isce.competitors import ArcFaceLoss, CenterLoss, LGMLoss, MMCLoss
from robustlab.isce.defences import RandomResizePad, random_resize_pad
from robustlab.isce.heads import (
    NORMALIZE_MODES,
    ISCEHead,
    LGMHead,
    MMCHead,
    max_mahalanobis_centers,
)
from robustlab.isce.inference import InferenceSoftmax
from robustlab.isce.losses import (
    ISCELoss,
    LabelSmoothingLoss,
    SCELoss,
    check_isce_params,
    inference_logits,
    isce_loss,
)

__version__ = "0.2.0"

__all__ = [
    "NORMALIZE_MODES",
    "ArcFaceLoss",
    "CenterLoss",
    "ISCEHead",
    "ISCELoss",
    "InferenceSoftmax",
    "LGMHead",
    "LGMLoss",
    "LabelSmoothingLoss",
    "MMCHead",
    "MMCLoss",
    "RandomResizePad",
    "SCELoss",
    "__version__",
    "check_isce_params",
    "inference_logits",
    "isce_loss",
    "max_mahalanobis_centers",
    "random_resize_pad",
]
