"""The training engine: one loop, methods plugged in as loss steps.

>>> from robustlab.core.train import TrainConfig, train
>>> cfg = TrainConfig(dataset="fashion-mnist", model="mnistnet", method="trades", epochs=2,
...                   method_opts={"eps": 0.1, "alpha": 0.01})
>>> result = train(cfg, "runs/demo")   # resumes if interrupted; loads if finished

Methods (``METHODS``): natural, madry-at, fast-at, free-at, trades, mart, awp-trades, awp-at,
lbgat and the regularisation baselines (dropout, dropconnect, dropblock, msd, disout,
label-smoothing, focal, label-relaxation, ols). Paper packages register ``<paper>/<name>``.
Training objectives (``objective=``, ``robust_objective=``, ``attack_objective=`` options) are
in ``robustlab.core.losses``; run dependencies (``TrainConfig.needs``) load with ``load_need``.
"""

from robustlab.core.train import methods as _methods  # noqa: F401  (registers the methods)
from robustlab.core.train import objectives as _objectives  # noqa: F401  (registers objectives)
from robustlab.core.train import schedules
from robustlab.core.train.config import TrainConfig
from robustlab.core.train.engine import TrainingDivergedError, train
from robustlab.core.train.method import (
    METHODS,
    Method,
    StepContext,
    StepOutput,
    TrainContext,
    bn_mode,
    check_options,
)
from robustlab.core.train.needs import load_need
from robustlab.core.train.runs import TrainResult, is_finished, load_run
from robustlab.core.train.schedules import SCHEDULES, WARMUPS

__all__ = [
    "METHODS",
    "SCHEDULES",
    "WARMUPS",
    "Method",
    "StepContext",
    "StepOutput",
    "TrainConfig",
    "TrainContext",
    "TrainResult",
    "TrainingDivergedError",
    "bn_mode",
    "check_options",
    "is_finished",
    "load_need",
    "load_run",
    "schedules",
    "train",
]
