"""AutoAttack's four standard attacks one at a time, for Table 4's per-attack trace.

Table 4 of Chen & Lee (arXiv:2111.02331) prints AutoAttack standard's cumulative robust accuracy
after APGD-CE, APGD-T, FAB-T and Square. AutoAttack's ``version="custom"`` keeps its constructor
defaults (APGD-CE and FAB with 5 restarts), not standard's settings, so a custom run per attack
would not be the trace of the standard evaluation. ``ltd/aa-<stage>`` builds the official
object with ``version="standard"`` (1 restart, 9 target classes, 5,000 Square queries) and then
runs only ``<stage>``. In a worst-case ``Suite`` of the four stages in standard's order, each stage
attacks only the examples still robust, exactly as standard AutoAttack's loop does, so the
suite's cumulative accuracies are Table 4's columns and its worst case is acc_AA.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.attacks.autoattack import AutoAttack

__all__ = ["STAGES", "AAStage"]

#: Standard AutoAttack's attacks in its order, with the harness kind and loss of each.
STAGES: dict[str, tuple[str, str]] = {
    "apgd-ce": ("iterative", "ce"),
    "apgd-t": ("iterative", "dlr"),
    "fab-t": ("optimization", "margin"),
    "square": ("black-box", "margin"),
}


class AAStage(AutoAttack):
    """One attack of AutoAttack standard with standard's settings (subclasses fix ``stage``).

    Args:
        eps: Linf / L2 radius >= 0 (pixel space).
        **kwargs: ``norm``, ``seed``, ``batch_size``, ``autocast`` as core's ``autoattack``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) int64 -> x_adv (B, C, H, W) in the eps-ball.
    """

    stage: ClassVar[str] = "apgd-ce"
    loss_kind: ClassVar[str] = "ce"

    def __init__(self, eps: float = 8 / 255, **kwargs: Any) -> None:
        super().__init__(eps=eps, version="standard", **kwargs)

    def build_official(self, model: nn.Module, device: Any) -> Any:
        """The official standard object, restricted to this stage (settings unchanged)."""
        official = super().build_official(model, device)
        official.attacks_to_run = [self.stage]
        return official

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        """The official attack; parameter gradients restored (official FAB calls ``backward``)."""
        grads = [p.grad for p in model.parameters()]
        try:
            return super()._perturb(model, x, y, ctx)
        finally:
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g


def _stage_class(stage: str) -> type[AAStage]:
    kind, loss = STAGES[stage]
    name = f"ltd/aa-{stage}"
    attrs = {
        "stage": stage,
        "name": name,
        "kind": kind,
        "loss_kind": loss,
        "__doc__": (
            f"AutoAttack standard's {stage} alone, standard settings (Table 4 trace stage)."
        ),
    }
    return type(f"AAStage_{stage.replace('-', '_')}", (AAStage,), attrs)


STAGE_CLASSES: dict[str, type[AAStage]] = {s: _stage_class(s) for s in STAGES}
for _stage, _cls in STAGE_CLASSES.items():
    ATTACKS.register(f"ltd/aa-{_stage}")(_cls)
