"""Collaborative adversarial generation (CAG), section 3.2, eq. 4 of the D2R paper.

The guide g and the target t generate the training examples together::

    x'_0     = x + 0.001 * N(0, I)                                  (projected onto the ball)
    x'_{s+1} = Proj_{B_eps(x) ∩ [0,1]^d}( x'_s + eta * sign( grad_{x'} KL(p_g(x) || p_t(x'_s)) ) )

with eps 0.031, eta 0.007 and 10 steps, both models in eval mode during generation (official code,
lusti-Yu/D2R ``D2R.py``). The KL is summed over the batch and the classes; its gradient only flows
through the target's adversarial output, so p_g(x) is computed once per batch (the official code
recomputes it at every step on the same clean input, which gives the same value in eval mode).
The official criterion adds 1e-5 inside log p_g, which does not change the gradient.

The paper prints eq. 4 as ``KL(f_t(x') || f_g(x))``; the spec (from the official code) fixes the
direction to ``KL(p_g(x) || p_t(x'))`` — the TRADES KL attack on the target with the guide's clean
distribution in place of the target's. With ``guide = target`` CAG is exactly the TRADES attack.

The objective is registered in core's attack ``LOSSES`` as ``"d2r/cag-kl"``; it reads the guide's
clean logits from ``logits_ref``, the key core's ``lbgat`` method fills when
``attack_guide_logits=True`` (guide in eval mode, no gradient). So inside training CAG is core
``lbgat`` with ``attack_objective="d2r/cag-kl", attack_guide_logits=True`` (target in eval mode
through ``bn_mode="eval"``), and standalone it is :class:`CAGAttack` (``ATTACKS`` ``"d2r/cag"``).

Plain D2R (no CAG) uses core's TRADES KL attack on the target alone:
``ATTACKS.build("pgd", eps=0.031, alpha=0.007, steps=10, loss="kl", init="normal",
init_std=0.001)`` — no code here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, LOSSES
from robustlab.core.attacks.iterative import IterativeAttack
from robustlab.core.losses import kl_div

__all__ = ["CAG_DEFAULTS", "CAGAttack", "cag_kl_loss", "preserve_modes"]

#: The paper's CAG budget (section 4): eps 0.031, step 0.007, 10 steps, N(0, 0.001^2) start.
CAG_DEFAULTS: dict[str, float | int] = {
    "eps": 0.031,
    "alpha": 0.007,
    "steps": 10,
    "init_std": 0.001,
}
MODES = ("eval", "as-is")


@contextmanager
def preserve_modes(*models: nn.Module | None) -> Iterator[None]:
    """Restore the ``training`` flag of every submodule of ``models`` on exit (exactly as it was,
    also for models whose submodules are in mixed modes)."""
    saved = [(m, m.training) for model in models if model is not None for m in model.modules()]
    try:
        yield
    finally:
        for module, flag in saved:
            module.training = flag


def cag_kl_loss(
    logits: Tensor, y: Tensor, *, logits_ref: Tensor | None = None, **ctx: Any
) -> Tensor:
    """CAG objective per example (B,), maximised: ``KL(p_g(x) || p_t(x'))`` summed over classes.

    Args:
        logits: Target logits on the adversarial input z_t(x'), (B, K).
        y: Labels (B,) (unused; the objective is label-free).
        logits_ref: The guide's clean logits z_g(x), (B, K) (detached here).
        **ctx: Ignored (e.g. ``logits_clean``, the target's own clean logits).

    Raises:
        ValueError: missing guide logits, or guide and target with different class counts.
    """
    if logits_ref is None:
        raise ValueError(
            "the CAG objective needs the guide's clean logits as logits_ref (B, K): call the "
            "d2r/cag attack with guide=..., or set attack_guide_logits=True on core's lbgat"
        )
    if logits_ref.shape != logits.shape:
        raise ValueError(
            f"CAG: the guide's logits {tuple(logits_ref.shape)} and the target's "
            f"{tuple(logits.shape)} differ; guide and target must have the same number of classes"
        )
    return kl_div(logits_ref.detach(), logits, "none")


LOSSES.register("d2r/cag-kl")(cag_kl_loss)


class CAGAttack(IterativeAttack):
    """Collaborative adversarial generation (eq. 4), an Linf PGD on ``KL(p_g(x) || p_t(x'))``.

    Args:
        eps: Linf radius in pixel space (default 0.031, the paper's).
        alpha: Step size eta (default 0.007).
        steps: Number of sign-gradient steps (default 10).
        init_std: Std of the Gaussian start ``x + init_std * N(0, 1)`` (default 0.001).
        models_mode: "eval" (default, official code: target and guide in eval mode while the
            example is generated) or "as-is" (use both models in the modes they are in).
        **kwargs: ``seed``, ``autocast``, ``restarts`` (see core's ``IterativeAttack``). The loss,
            norm, start and targeting are fixed by the method and may not be given.

    Call:
        ``attack(target_model, x, y, guide=guide_model)`` or
        ``attack(target_model, x, y, guide_logits=z_g)`` with x (B, C, H, W) in [0, 1], y (B,)
        int64, ``z_g`` (B, K) the guide's clean logits. Returns x' (B, C, H, W) in the eps-ball
        around x and in [0, 1]. Both models' (and all their submodules') train/eval flags are
        restored; no parameter gradient is written.

    Raises:
        ValueError: a fixed option given, bad ``models_mode``, no guide / both guide forms, or a
            guide whose class count differs from the target's.
    """

    name = "d2r/cag"
    norms = ("Linf",)

    def __init__(
        self,
        eps: float = 0.031,
        alpha: float = 0.007,
        steps: int = 10,
        *,
        init_std: float = 0.001,
        models_mode: str = "eval",
        **kwargs: Any,
    ) -> None:
        fixed = sorted(
            k for k in ("loss", "norm", "init", "random_start", "targeted", "target") if k in kwargs
        )
        if fixed:
            raise ValueError(
                f"d2r/cag fixes {fixed} (KL(p_g(x) || p_t(x')), Linf, Gaussian start, untargeted); "
                "remove them, or use core's 'pgd' for another objective"
            )
        if models_mode not in MODES:
            raise ValueError(f"models_mode must be one of {MODES}, got {models_mode!r}")
        super().__init__(
            eps,
            alpha,
            steps,
            random_start=True,
            init="normal",
            init_std=init_std,
            loss=cag_kl_loss,
            **kwargs,
        )
        self.loss_name = "d2r/cag-kl"
        self.models_mode = models_mode

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        """Generate x' (see the class docstring); ``ctx`` needs ``guide`` or ``guide_logits``."""
        guide = ctx.pop("guide", None)
        guide_logits = ctx.pop("guide_logits", None)
        if (guide is None) == (guide_logits is None):
            raise ValueError(
                "d2r/cag needs exactly one of guide=<nn.Module> (the guide model) or "
                "guide_logits=<Tensor (B, K)> (its clean logits); got "
                + ("both" if guide is not None else "neither")
            )
        if "logits_ref" in ctx:
            raise ValueError(
                "d2r/cag takes the guide's clean logits as guide_logits, not logits_ref"
            )
        self._check_inputs(model, x, y, ctx)
        with preserve_modes(model, guide):
            if self.models_mode == "eval":
                model.eval()
                if guide is not None:
                    guide.eval()
            if guide is not None:
                if not isinstance(guide, nn.Module):
                    raise ValueError(f"guide must be an nn.Module, got {type(guide).__name__}")
                with torch.inference_mode(False), torch.no_grad(), self.precision(x):
                    guide_logits = guide(x.detach())
            assert guide_logits is not None
            if not isinstance(guide_logits, Tensor) or guide_logits.dim() != 2:
                raise ValueError("guide_logits must be a tensor of shape (B, K)")
            ctx["logits_ref"] = guide_logits.detach().float()
            return super().__call__(model, x, y, **ctx)

    def __repr__(self) -> str:
        return (
            f"CAGAttack(eps={self.eps!r}, alpha={self.alpha!r}, steps={self.steps!r}, "
            f"init_std={self.init_std!r}, models_mode={self.models_mode!r}, seed={self.seed!r})"
        )


@ATTACKS.register("d2r/cag")
def _cag(**kwargs: Any) -> CAGAttack:
    return CAGAttack(**kwargs)
