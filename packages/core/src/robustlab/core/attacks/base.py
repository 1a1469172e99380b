"""The attack base class: input validation, mode/grad bookkeeping, targets and projection.

Every attack is built without a model and called as ``attack(model, x, y, **ctx) -> x_adv`` with
``x`` of shape (B, C, H, W) in [0, 1] and integer labels ``y`` of shape (B,). Subclasses implement
``_perturb`` only; this class guarantees the invariants shared by all attacks:

* ``x_adv`` has the shape and dtype of ``x``, lies in the eps-ball of the attack's norm around ``x``
  and in [0, 1] (checked and enforced once, at the end);
* ``x`` is never modified, ``model.training`` is unchanged, no gradient is written to the model's
  parameters (gradients are taken with ``torch.autograd.grad`` w.r.t. the input only);
* attacks run in fp32 with autocast disabled unless ``autocast=True``;
* with ``seed`` set, every random draw comes from a generator seeded per call (same seed, same
  output).
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.attacks.losses import LossFn, get_loss, targeted_objective
from robustlab.core.registry import Registry, class_options

NORMS = ("Linf", "L2")
#: What an attack is, declared by every attack class as ``kind`` (read by the evaluation's sanity
#: checks instead of guessing from names): one gradient step; several gradient steps; an
#: optimisation of the perturbation size (minimal-perturbation attacks such as C&W-L2, DeepFool);
#: queries of the model's outputs only; crafted on another (source) model; several attacks.
KINDS = ("single-step", "iterative", "optimization", "black-box", "transfer", "ensemble")
TARGET_MODES = ("random", "least-likely")


def _check_number(name: str, value: float, *, low: float, strict: bool, allow_inf: bool) -> None:
    bad = not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value)
    if not bad and not allow_inf and math.isinf(value):
        bad = True
    if not bad:
        bad = value <= low if strict else value < low
    if bad:
        rng = f"> {low}" if strict else f">= {low}"
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}")


def check_positive_int(name: str, value: int, minimum: int = 1) -> None:
    """Raise ValueError unless ``value`` is an int >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def lp_norm(t: Tensor, norm: str) -> Tensor:
    """Per-example norm of ``t`` (B, ...) -> (B,) for ``norm`` in {"Linf", "L2"}."""
    flat = t.reshape(t.shape[0], -1)
    return flat.abs().amax(dim=1) if norm == "Linf" else flat.norm(p=2, dim=1)


def view_b(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-example vector (B,) so that it broadcasts against ``like`` (B, C, H, W)."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def project(x_adv: Tensor, x: Tensor, eps: float, norm: str) -> Tensor:
    """Project ``x_adv`` onto {x': ||x' - x||_norm <= eps} ∩ [0, 1]^d (in place when possible).

    For Linf the two sets are boxes, so the intersection is one clamp. For L2 the ball projection
    ``x + delta * min(1, eps / ||delta||_2)`` is followed by the [0, 1] clamp, which can only shrink
    every coordinate of delta and therefore stays inside the ball.
    """
    if norm == "Linf":
        if math.isinf(eps):
            return x_adv.clamp_(0.0, 1.0)
        return torch.maximum(torch.minimum(x_adv, x + eps), x - eps).clamp_(0.0, 1.0)
    delta = x_adv - x
    if not math.isinf(eps):
        factor = (eps / (lp_norm(delta, "L2") + 1e-12)).clamp_(max=1.0)
        delta.mul_(view_b(factor, delta))
    return (x + delta).clamp_(0.0, 1.0)


def l2_normalize(t: Tensor) -> Tensor:
    """``t / ||t||_2`` per example (B, ...) with a 1e-12 floor on the norm."""
    return t / view_b(lp_norm(t, "L2") + 1e-12, t)


class Attack(abc.ABC):
    """Base class of all robustlab attacks (torchattacks keyword conventions).

    Class attributes: ``name``, ``kind`` (one of :data:`KINDS`), ``norms`` (supported norms).

    Args:
        eps: Radius of the threat model in pixel space (>= 0; ``inf`` for unbounded attacks).
        norm: "Linf" or "L2" (one of the class's ``norms``).
        targeted: If True, move towards a target class instead of away from ``y``.
        target: How targets are chosen when ``targeted`` and no ``y_target`` is given in ``ctx``:
            "random" (uniform over the other classes) or "least-likely" (argmin of clean logits).
        loss: Name in ``LOSSES`` or callable
            ``loss(logits, y, *, logits_clean=None, **ctx) -> (B,)``, maximised by the attack.
        early_stop: Stop updating examples that are already misclassified (off by default;
            only attacks with ``early_stop_support`` act on it).
        seed: Seed for the attack's own random generator; None uses torch's global RNG.
        autocast: Run the model under autocast (bf16 on CPU, fp16 on CUDA); default False: fp32.

    Call:
        ``attack(model, x, y, **ctx)`` with ``x`` (B, C, H, W) in [0, 1], ``y`` (B,) int64 in
        [0, num_classes). Returns ``x_adv`` with the shape/dtype of ``x``. ``ctx`` is passed to the
        loss (e.g. ``teacher_logits``); the key ``logits_clean`` (B, K) is computed once per batch
        from ``model(x)`` (current model mode, detached) unless supplied; ``y_target`` (B,) gives
        explicit targets.
    """

    #: Registered name (shown in messages).
    name: ClassVar[str] = "attack"
    #: One of :data:`KINDS`; every concrete attack class declares it.
    kind: ClassVar[str] = ""
    #: The norms the attack supports (a subset of :data:`NORMS`); the first is the default.
    norms: ClassVar[tuple[str, ...]] = NORMS
    #: True when the attack honours ``early_stop=True`` (an example fooled at some iterate keeps
    #: that iterate and is not attacked further); the evaluation harness turns early stop on in
    #: worst-case mode only for such attacks. Every attack accepts the option.
    early_stop_support: ClassVar[bool] = False

    @classmethod
    def accepted_options(cls) -> tuple[str, ...]:
        """The constructor's keyword options, sorted (what ``ATTACKS.build`` error messages list)."""
        return tuple(sorted(class_options(cls)))

    def __init__(
        self,
        eps: float = 8 / 255,
        *,
        norm: str = "Linf",
        targeted: bool = False,
        target: str = "random",
        loss: str | LossFn = "ce",
        early_stop: bool = False,
        seed: int | None = None,
        autocast: bool = False,
    ) -> None:
        _check_number("eps", eps, low=0.0, strict=False, allow_inf=True)
        if norm not in self.norms:
            raise ValueError(f"norm must be one of {self.norms} for {self.name}, got {norm!r}")
        if target not in TARGET_MODES:
            raise ValueError(f"target must be one of {TARGET_MODES}, got {target!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        self.eps = float(eps)
        self.norm = norm
        self.targeted = bool(targeted)
        self.target = target
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")
        self.loss_fn: LossFn = get_loss(loss)
        self.early_stop = bool(early_stop)
        self.seed = seed
        self.autocast = bool(autocast)

    # ------------------------------------------------------------------ public entry point
    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **ctx: Any) -> Tensor:
        """Run the attack; see the class docstring for shapes and guarantees."""
        self._check_inputs(model, x, y, ctx)
        was_training = model.training
        try:
            with torch.inference_mode(False), torch.enable_grad(), self.precision(x):
                x0 = x.detach().clone()
                y0 = y.detach().clone()
                if ctx.get("logits_clean") is None:
                    with torch.no_grad():
                        ctx["logits_clean"] = model(x0).detach().float()
                self._check_labels(y0, ctx["logits_clean"])
                if self.targeted and ctx.get("y_target") is None:
                    ctx["y_target"] = self.choose_targets(y0, ctx["logits_clean"])
                x_adv = self._perturb(model, x0, y0, ctx)
                return self._finalize(x0, x_adv.detach()).to(x.dtype)
        finally:
            model.train(was_training)

    @abc.abstractmethod
    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        """The attack itself on validated fp32 inputs; returns x_adv (projected by the caller)."""

    def __repr__(self) -> str:
        keys = ("eps", "norm", "targeted", "loss_name", "early_stop", "seed")
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys if hasattr(self, k))
        return f"{type(self).__name__}({inner})"

    # ------------------------------------------------------------------ helpers for subclasses
    @contextlib.contextmanager
    def precision(self, x: Tensor) -> Iterator[None]:
        """Autocast off (fp32) unless ``autocast=True``, then the device's default low precision."""
        with torch.autocast(device_type=x.device.type, enabled=self.autocast):
            yield

    def generator(self, device: torch.device) -> torch.Generator | None:
        """A generator seeded with ``seed`` (fresh per call), or None for torch's global RNG."""
        if self.seed is None:
            return None
        g = torch.Generator(device=device)
        g.manual_seed(self.seed)
        return g

    def objective(self, logits: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        """Per-example objective (B,) that the attack maximises (loss, or targeted form)."""
        if self.targeted:
            return targeted_objective(self.loss_fn, logits.float(), y, ctx["y_target"], ctx)
        return self.loss_fn(logits.float(), y, **ctx)

    def loss_and_grad(
        self, model: nn.Module, x_adv: Tensor, y: Tensor, ctx: dict[str, Any]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Forward + backward w.r.t. the input only.

        Returns:
            grad (B, C, H, W) of the summed objective w.r.t. ``x_adv``, detached logits (B, K) and
            the detached per-example objective (B,). No graph survives the call.
        """
        leaf = x_adv.detach().requires_grad_(True)
        logits = model(leaf)
        obj = self.objective(logits, y, ctx)
        (grad,) = torch.autograd.grad(obj.sum(), leaf)
        return grad, logits.detach(), obj.detach()

    def fooled(self, logits: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        """Bool (B,): the attack succeeded (misclassified, or the target class when targeted)."""
        pred = logits.argmax(dim=1)
        return pred == ctx["y_target"] if self.targeted else pred != y

    def choose_targets(self, y: Tensor, logits_clean: Tensor) -> Tensor:
        """Target labels (B,) != y: least-likely class of the clean logits, or uniform random."""
        if self.target == "least-likely":
            masked = logits_clean.clone()
            masked[torch.arange(len(y), device=y.device), y] = float("inf")
            return masked.argmin(dim=1)
        k = logits_clean.shape[1]
        gen = self.generator(y.device)
        offset = torch.randint(1, max(k, 2), y.shape, generator=gen, device=y.device)
        return (y + offset) % k

    @staticmethod
    def sub_ctx(ctx: dict[str, Any], idx: Tensor) -> dict[str, Any]:
        """Restrict the per-example tensors of ``ctx`` (first dim B) to the rows ``idx``."""
        out: dict[str, Any] = {}
        for key, value in ctx.items():
            out[key] = value[idx] if isinstance(value, Tensor) and value.dim() > 0 else value
        return out

    # ------------------------------------------------------------------ validation and final check
    def _check_inputs(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> None:
        if not isinstance(model, nn.Module) and not callable(model):
            raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 2:
            raise ValueError("x must be a floating-point tensor of shape (B, C, H, W) in [0, 1]")
        if x.shape[0] == 0:
            raise ValueError("x must hold at least one example (batch size >= 1)")
        if torch.isnan(x).any():
            raise ValueError("x contains NaN; inputs must be finite values in [0, 1]")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"x must lie in [0, 1] (got min {lo:.4g}, max {hi:.4g}); normalisation belongs "
                "inside the model, attacks work in pixel space"
            )
        if not isinstance(y, Tensor) or y.dim() != 1 or y.is_floating_point() or y.is_complex():
            shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(f"y must be an integer tensor of shape (B,), got {shape}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(
                f"batch size mismatch: x has {x.shape[0]} examples but y has {y.shape[0]}"
            )
        for key in ("logits_clean", "y_target"):
            value = ctx.get(key)
            if isinstance(value, Tensor) and value.shape[0] != x.shape[0]:
                raise ValueError(f"ctx[{key!r}] must have batch size {x.shape[0]}")

    @staticmethod
    def _check_labels(y: Tensor, logits: Tensor) -> None:
        k = logits.shape[1]
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(
                f"y must hold class indices in [0, {k - 1}] (the model has {k} classes), got "
                f"values in [{int(y.min())}, {int(y.max())}]"
            )

    def _finalize(self, x: Tensor, x_adv: Tensor) -> Tensor:
        if x_adv.shape != x.shape:
            raise RuntimeError(f"{self.name} returned shape {tuple(x_adv.shape)} != {x.shape}")
        x_adv = torch.where(torch.isfinite(x_adv), x_adv.to(x.dtype), x)
        return project(x_adv, x, self.eps, self.norm)


AttackFactory = Callable[..., Attack]

#: Registry of attack factories: ``ATTACKS.build("pgd", eps=8/255, steps=20) -> Attack``.
ATTACKS: Registry[AttackFactory] = Registry("attack")
