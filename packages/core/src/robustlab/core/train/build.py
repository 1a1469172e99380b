"""Assembling a run from its config: data splits, the model (with method overrides), the optimiser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train.config import TrainConfig
from robustlab.core.train.method import Method
from robustlab.core.train.runs import resolve_init_from


@dataclass
class RunData:
    """Train / validation / test splits (``ArrayData``), dataset info and the augmentation."""

    train: Any
    val: Any | None
    test: Any
    info: Any
    augment: Any


def prepare_data(cfg: TrainConfig) -> RunData:
    """Load the splits (first ``n_train`` / ``n_test``), carve the validation split, pick augmentation.

    Raises:
        ConfigError: ``augment=True`` for a dataset without a default augmentation.
    """
    from robustlab.core.data import info, load, split_holdout

    meta = info(cfg.dataset)
    train_set = load(cfg.dataset, "train", n=cfg.n_train, root=cfg.data_root)
    test_set = load(cfg.dataset, "test", n=cfg.n_test, root=cfg.data_root)
    val_set = None
    if cfg.val_fraction > 0:
        train_set, val_set = split_holdout(train_set.x, train_set.y, cfg.val_fraction, cfg.seed)
    augment = meta.default_augment
    if cfg.augment is False:
        augment = None
    elif cfg.augment is True and augment is None:
        raise ConfigError(
            f"augment=True but dataset {cfg.dataset!r} defines no default augmentation; use None/False"
        )
    return RunData(train_set, val_set, test_set, meta, augment)


def build_model(cfg: TrainConfig, method: Method, data: RunData) -> nn.Module:
    """The zoo model with ``model_opts`` and the method's overrides; weights from ``init_from``."""
    from robustlab.core.models import build, load_checkpoint

    opts = {**cfg.model_opts, **method.model_overrides()}
    model = build(
        cfg.model, num_classes=data.info.num_classes, in_channels=data.info.in_channels, **opts
    )
    if cfg.init_from:
        load_checkpoint(resolve_init_from(cfg.init_from), model)
    return model


def build_optimizer(cfg: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov, weight decay) or Adam (L2 weight decay) over ``params``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
