"""BatchNorm update orders of LTD's student step (section 3.5, Table 5).

The student needs logits on the natural batch x and on the adversarial batch x' (eq. 28). In
train mode every forward pass moves the BN running statistics (eq. 19, an exponential moving
average, which is not commutative), so the order and the choice of passes matter:

* ``"nat-adv"`` (default, the paper's choice): x then x', both in train mode.
* ``"adv-nat"``: x' then x, both in train mode.
* ``"nat"``: only x updates the statistics; x' is passed *frozen*.
* ``"adv"``: only x' updates the statistics; x is passed *frozen*.

A frozen pass (decision, section 3.5 / 5.3.1 do not say how the other batch is normalised) is
by default an eval-mode pass (``frozen="eval"``: normalised with the running statistics, as
``model.eval()`` in the authors' likely PyTorch code; this gives the "inconsistent logits" the
paper blames for the collapse of nat/adv). ``frozen="batch"`` instead normalises with the batch's
own statistics and restores the running statistics afterwards.

Exactly one pass is made on each batch: the natural logits serve both the soft-label term and
the KL's clean side (core's TRADES makes a third, second clean pass; LTD does not).

Whether the statistics also move during attack generation (question 1 of section 3.5) is the
attack's BN mode, :func:`attack_bn_mode`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from robustlab.core.errors import ConfigError

__all__ = ["BN_ORDERS", "FROZEN_MODES", "attack_bn_mode", "frozen_bn", "student_forward"]

BN_ORDERS = ("nat-adv", "adv-nat", "nat", "adv")
FROZEN_MODES = ("eval", "batch")


def check_bn_order(order: str) -> str:
    """Validate a BN order name; ConfigError lists the valid ones."""
    if order not in BN_ORDERS:
        raise ConfigError(
            f"unknown BatchNorm order {order!r}; valid: {', '.join(BN_ORDERS)} (section 3.5; "
            f"'nat-adv' is the paper's default)"
        )
    return order


def attack_bn_mode(update_bn: bool) -> str:
    """Core ``bn_mode`` for attack generation: "train" if BN statistics update during it.

    Section 3.5, question 1: the paper argues for updating them (every PGD iterate then moves
    the running statistics); TRADES and AWP generate in eval mode.
    """
    return "train" if update_bn else "eval"


def _bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def frozen_bn(model: nn.Module, mode: str = "eval") -> Iterator[None]:
    """Forward passes inside leave every BN running statistic unchanged.

    Args:
        model: Any module (a model without BN is unaffected).
        mode: "eval" -- the model in eval mode (running statistics normalise the batch; dropout
            off); "batch" -- train mode (batch statistics normalise the batch) and the running
            buffers restored on exit.
    """
    if mode not in FROZEN_MODES:
        raise ConfigError(f"frozen mode must be one of {FROZEN_MODES}, got {mode!r}")
    was = model.training
    if mode == "eval":
        model.eval()
        try:
            yield
        finally:
            model.train(was)
        return
    layers = _bn_layers(model)
    saved = [
        {k: b.detach().clone() for k, b in layer.named_buffers(recurse=False)} for layer in layers
    ]
    model.train()
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, buffers in zip(layers, saved):
                for k, b in layer.named_buffers(recurse=False):
                    b.copy_(buffers[k])
        model.train(was)


def student_forward(
    model: nn.Module | Callable[[Tensor], Tensor],
    x: Tensor,
    x_adv: Tensor,
    order: str = "nat-adv",
    frozen: str = "eval",
) -> tuple[Tensor, Tensor]:
    """The student's logits on x and x' with BN statistics updated as ``order`` names.

    Args:
        model: The student (an ``nn.Module``), put in train mode for the updating passes; its
            mode is restored afterwards.
        x: (B, ...) natural batch in [0, 1].
        x_adv: (B, ...) adversarial batch (same shape).
        order: One of :data:`BN_ORDERS`.
        frozen: How a non-updating pass is run (orders "nat" and "adv"), see :func:`frozen_bn`.

    Returns:
        ``(logits_nat, logits_adv)``, each (B, C), with gradient.
    """
    check_bn_order(order)
    if not isinstance(model, nn.Module):
        raise ConfigError("student_forward needs an nn.Module (its BN mode is switched)")
    if x.shape != x_adv.shape:
        raise ValueError(
            f"x {tuple(x.shape)} and x_adv {tuple(x_adv.shape)} must have the same shape"
        )
    was = model.training
    model.train()
    try:
        if order == "nat-adv":
            logits_nat = model(x)
            logits_adv = model(x_adv)
        elif order == "adv-nat":
            logits_adv = model(x_adv)
            logits_nat = model(x)
        elif order == "nat":
            logits_nat = model(x)
            with frozen_bn(model, frozen):
                logits_adv = model(x_adv)
        else:  # "adv"
            logits_adv = model(x_adv)
            with frozen_bn(model, frozen):
                logits_nat = model(x)
    finally:
        model.train(was)
    return logits_nat, logits_adv
