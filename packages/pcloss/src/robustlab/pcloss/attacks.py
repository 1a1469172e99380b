"""Black-box transfer from a substitute model that is a dependency run of the run store.

The paper's black-box attacks (Table 3) craft PGD/MIM on a substitute model trained on the same
data (a 3-layer CNN for LeNet-5, ResNet-56 for VGG-13) and evaluate them on the target. Core's
``transfer`` attack needs the substitute as an ``nn.Module``; an evaluation suite, however, must
stay plain data (it is hashed and stored with the run). The substitute is therefore a dependency
run of the target (``RunSpec.needs = {"substitute": <run id>}``): the runner trains it once in
the run store, shared by the CE, PC, GCE, ... targets of a dataset, and replaces the attack's
``source_run=need_ref("substitute")`` by the substitute's finished training run directory, which
``pcloss/transfer`` loads with :func:`robustlab.core.train.load_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, Attack
from robustlab.core.attacks.transfer import Transfer
from robustlab.core.utils import get_logger

__all__ = ["SubstituteTransfer"]

log = get_logger(__name__)
_MODELS: dict[str, nn.Module] = {}


def _substitute(source_run: str) -> nn.Module:
    key = str(Path(source_run).resolve())
    if key not in _MODELS:
        from robustlab.core.train import load_run

        log.info("black-box substitute: loading %s", source_run)
        _MODELS[key] = load_run(source_run, device="cpu").model.eval()
    return _MODELS[key]


class SubstituteTransfer(Attack):
    """Core's transfer attack with the substitute loaded from its finished training run.

    Args:
        source_run: The substitute's finished training run directory (in a paper's RunSpec:
            ``need_ref("substitute")``, resolved by the runner).
        attack: Inner attack name ("pgd", "mifgsm", ...), crafted on the substitute.
        **attack_kwargs: Inner attack options (eps, alpha, steps, seed, ...).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W) inside the inner eps-ball.
    """

    name = "pcloss/transfer"
    kind: ClassVar[str] = "transfer"
    norms: ClassVar[tuple[str, ...]] = ("Linf", "L2")

    def __init__(
        self, source_run: str | None = None, attack: str = "pgd", **attack_kwargs: Any
    ) -> None:
        if not isinstance(source_run, str) or not source_run:
            raise ValueError(
                "source_run must be the substitute's finished training run directory (in a "
                f"RunSpec: need_ref('substitute') with needs={{'substitute': <run id>}}), got {source_run!r}"
            )
        self.inner = ATTACKS.build(attack, **attack_kwargs)
        super().__init__(self.inner.eps, norm=self.inner.norm, seed=self.inner.seed)
        self.source_run = source_run

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        source = _substitute(self.source_run).to(x.device)
        transfer = Transfer(self.inner, source=source)
        return transfer(model, x, y, **{k: v for k, v in ctx.items() if k != "logits_clean"})

    def __repr__(self) -> str:
        return f"SubstituteTransfer({self.inner!r}, source={self.source_run})"


@ATTACKS.register("pcloss/transfer")
def _substitute_transfer(**kwargs: Any) -> SubstituteTransfer:
    return SubstituteTransfer(**kwargs)
