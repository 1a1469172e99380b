"""CTR training methods on core's engine (registered in ``robustlab.core.train.METHODS``).

Natural training with CTR (section 4.1, Tables 1-4):

* ``ctr/mdl`` -- MDL (eq. 6) on a multi-sample-dropout head: one convolutional forward, K dropout
  samples of the last conv/pooling output, each run through *all* fully connected layers
  (section 3.2; core's ``head="msd"`` with ``span="fc"``, so MNISTNet's FC1-FC3 and VGG16's FC
  layers see K x B rows; ResNets have one FC layer and are unchanged). Options: ``K``, ``p``,
  ``rho``, ``eta``, ``diversity`` ("cosine" | "pearson"), ``drop`` ("dropout" | "dropconnect"),
  ``label_smoothing``, ``ols`` (online label smoothing as the CE target), ``ols_alpha``.
* ``ctr/mdl-pcc`` -- MDL with the Pearson diversity (eq. 27-28).
* ``ctr/dc-mdl``, ``ctr/ls-mdl``, ``ctr/ols-mdl`` -- Table 2's combinations.
* ``ctr/msd`` -- the paper's multi-sample dropout baseline (MSD [13], Tables 1-4, Fig. 3) in
  MDL's structure: the same K dropout samples of the last conv output through all FC layers,
  loss = mean_k CE (MDL with rho = 0), Inoue's K = 8. The paper builds MDL *on* MSD (section
  3.2: MSD "dropout[s] the last feature layers multiple times"; MDL adds the orthogonal term), so
  MDL and MSD differ only in the loss. Core's ``msd`` (samples on the penultimate features) is
  unchanged.

Adversarial training with CTR (section 4.2, Tables 5, 6, 8, 9) lives in :mod:`robustlab.ctr.at`.

The method overrides the model's head through ``model_overrides`` (``head="msd"``,
``span="fc"``), so a run config only names the backbone. The FC stack keeps its own layers
(MNISTNet keeps its dropout between FC1 and FC2, now applied per sample); VGG's dropout before
its hidden FC layer is the per-sample drop itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.train import (
    METHODS,
    WARMUPS,
    Method,
    StepContext,
    StepOutput,
    TrainContext,
    check_options,
)
from robustlab.core.train.objectives import OnlineLabelSmoothing
from robustlab.ctr.losses import MDLoss

__all__ = ["MDLMethod", "OnlineLabelSmoothing", "ctr_warmup_factors", "eq29_warmup"]

DROPS = ("dropout", "dropconnect")


def ctr_warmup_factors(epochs: int) -> list[float]:
    """kappa_1..kappa_I of CTR eq. 29 for a run of ``epochs`` epochs (I = round(epochs/10) >= 1):
    kappa_1 = 0.001, kappa_{i+1} = kappa_i (1 - i/I) + i/I (so kappa_{I+1} = 1).

    Returns:
        List of length I; epoch i (1-based) <= I uses entry i-1, later epochs use 1.
    """
    n_warm = max(1, round(epochs / 10))
    kappa = [0.001]
    for i in range(1, n_warm):
        kappa.append(kappa[-1] * (1 - i / n_warm) + i / n_warm)
    return kappa


def eq29_warmup(epochs: int, steps_per_epoch: int) -> Callable[[int, int], float]:
    """The learning-rate factor of CTR eq. 29 per (epoch, iteration): kappa_e in the first I
    epochs, 1 after. Registered in core's ``WARMUPS`` as ``ctr/eq29``."""
    kappa = ctr_warmup_factors(epochs)
    return lambda epoch, it: kappa[epoch] if epoch < len(kappa) else 1.0


class MDLMethod(Method):
    """Natural training with the mask-guided divergence loss (eq. 6).

    Args:
        K: Sub-networks (dropout samples of the head), >= 2; paper 4.
        p: Drop rate of the head's dropout (or DropConnect) in [0, 1); paper 0.5.
        rho: Orthogonal-term weight >= 0; paper 1.
        eta: Mask percentile in (0, 100]; paper: MNIST 100, FashionMNIST 90, CIFAR-10 100,
            CIFAR-100 70.
        diversity: "cosine" (MDL) or "pearson" (MDL-PCC).
        drop: "dropout" or "dropconnect" (Table 2's DC+MDL).
        label_smoothing: LS of the CE term (Table 2's LS+MDL), in [0, 1).
        ols: Online label smoothing targets for the CE term (Table 2's OLS+MDL): core's
            ``OnlineLabelSmoothing`` (rows updated at each epoch's end from the mean of the K
            sub-networks' predictions of correctly classified examples).
        ols_alpha: OLS hard-label weight.
    """

    name = "ctr/mdl"

    def __init__(
        self,
        K: int = 4,
        p: float = 0.5,
        rho: float = 1.0,
        eta: float = 100.0,
        diversity: str = "cosine",
        drop: str = "dropout",
        label_smoothing: float = 0.0,
        ols: bool = False,
        ols_alpha: float = 0.5,
    ) -> None:
        if drop not in DROPS:
            raise ConfigError(f"drop must be one of {DROPS} for ctr/mdl, got {drop!r}")
        if not 0.0 <= float(p) < 1.0:
            raise ConfigError(f"p (head drop rate) must be in [0, 1), got {p!r}")
        if ols and label_smoothing:
            raise ConfigError("choose label_smoothing or ols for the CE target, not both")
        self.criterion = MDLoss(K, rho, eta, diversity, label_smoothing)
        self.K, self.p, self.rho, self.eta = int(K), float(p), float(rho), float(eta)
        self.diversity, self.drop = diversity, drop
        self.label_smoothing, self.ols, self.ols_alpha = (
            float(label_smoothing),
            bool(ols),
            ols_alpha,
        )
        self._ols: OnlineLabelSmoothing | None = None

    def model_overrides(self) -> dict[str, Any]:
        return {
            "head": "msd",
            "head_opts": {"k": self.K, "p": self.p, "drop": self.drop, "span": "fc"},
        }

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        head = getattr(model, "head", None)
        stacked = getattr(model, "fc_stack_name", "") == "" or getattr(head, "body", None)
        if (
            not hasattr(head, "forward_samples")
            or getattr(head, "k", None) != self.K
            or not stacked
        ):
            raise ConfigError(
                f"{self.name} needs a multi-sample dropout head with k={self.K} over the whole FC "
                f"stack; build the model with head='msd', head_opts={{'k': {self.K}, 'span': 'fc'}}"
                " (the method's model_overrides do this)"
            )
        if self.ols:
            self._ols = OnlineLabelSmoothing(self.ols_alpha, num_classes=ctx.num_classes)

    def on_epoch_end(self, epoch: int, ctx: TrainContext, model: nn.Module) -> None:
        if self._ols is not None:
            self._ols.next_epoch()

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        net: Any = model  # a core Classifier with a MultiSampleDropoutHead (checked in setup)
        logits_k = net.head.forward_samples(net.features(x))  # (K, B, C)
        target = self._ols.target(y) if self._ols is not None else None
        terms = self.criterion.terms(logits_k, y, target)
        loss = (terms.ce + self.rho * terms.mask * terms.diversity).mean()
        logits = logits_k.detach().float().mean(dim=0)
        if self._ols is not None:
            self._ols.update(logits_k.detach().float().softmax(-1).mean(dim=0), y)
        metrics = {
            "ce": float(terms.ce.detach().mean()),
            "diversity": float(terms.diversity.detach().mean()),
            "mask_frac": float(terms.mask.mean()),
        }
        return StepOutput(loss, logits, metrics)

    def state_dict(self) -> dict[str, Any]:
        """Flat tensors (``ols_soft``, ``ols_sums``, ``ols_counts``) for exact resume."""
        if self._ols is None:
            return {}
        return {f"ols_{k}": v for k, v in self._ols.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._ols is not None and "ols_soft" in state:
            self._ols.load_state_dict({k: state[f"ols_{k}"] for k in ("soft", "sums", "counts")})


_VALID = {
    "K": 4,
    "p": 0.5,
    "rho": 1.0,
    "eta": 100.0,
    "diversity": "cosine",
    "drop": "dropout",
    "label_smoothing": 0.0,
    "ols": False,
    "ols_alpha": 0.5,
}


def _factory(name: str, fixed: dict[str, Any], doc: str) -> None:
    def build(**opts: Any) -> MDLMethod:
        check_options(name, opts, {k: v for k, v in _VALID.items() if k not in fixed})
        method = MDLMethod(**{**opts, **fixed})
        method.name = name
        return method

    build.__doc__ = doc
    build.__name__ = build.__qualname__ = name.replace("/", "_").replace("-", "_")
    if name not in METHODS:
        METHODS.register(name, build)


_MSD_VALID = {"K": 8, "p": 0.5, "drop": "dropout"}


def _msd(name: str, doc: str) -> None:
    def build(**opts: Any) -> MDLMethod:
        check_options(name, opts, _MSD_VALID)
        method = MDLMethod(**{**_MSD_VALID, **opts, "rho": 0.0, "eta": 100.0})
        method.name = name
        return method

    build.__doc__ = doc
    build.__name__ = build.__qualname__ = "ctr_msd"
    if name not in METHODS:
        METHODS.register(name, build)


def register() -> None:
    """Register the MDL methods (idempotent)."""
    _factory("ctr/mdl", {}, "MDL (CTR eq. 6) on a K-sample dropout head.")
    _factory("ctr/mdl-pcc", {"diversity": "pearson"}, "MDL-PCC (CTR eq. 27-28).")
    _factory("ctr/dc-mdl", {"drop": "dropconnect"}, "DropConnect + MDL (CTR Table 2).")
    _factory("ctr/ls-mdl", {"label_smoothing": 0.1}, "Label smoothing (0.1) + MDL (Table 2).")
    _factory("ctr/ols-mdl", {"ols": True}, "Online label smoothing + MDL (CTR Table 2).")
    _msd(
        "ctr/msd",
        "Multi-sample dropout (MSD [13]) in MDL's structure: K=8 samples of the last conv output "
        "through all FC layers, mean CE (MDL with rho=0).",
    )
    if "ctr/eq29" not in WARMUPS:
        WARMUPS.register("ctr/eq29", eq29_warmup)


register()
