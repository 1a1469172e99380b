"""Natural (standard) training: an objective on clean inputs (cross-entropy by default).

    L = reduce_i objective(f(x_i), y_i)          (default: CE, batch mean)

Options: ``objective`` (a name in ``robustlab.core.losses.OBJECTIVES``, ``{"name": ..., **opts}``
or a callable ``(logits, y, **ctx) -> (B,)``; default "ce") and ``reduction`` ("mean", "sum").
The objective receives ``x`` (clean batch), ``index`` ((B,) training-set indices) and ``step``.
The loss-level regularisers (label-smoothing, focal, label-relaxation, ols) and paper criteria
(``pcloss/pc``) are this method with another objective.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.losses import objective_loss
from robustlab.core.train.method import METHODS, Method, StepContext, StepOutput, check_options


class Natural(Method):
    """L = reduce(objective(f(x), y)); options ``objective`` ("ce"), ``reduction`` ("mean")."""

    name = "natural"
    OBJECTIVE_OPTIONS: ClassVar[tuple[str, ...]] = ("objective",)
    DEFAULTS: ClassVar[dict[str, Any]] = {"objective": "ce", "reduction": "mean"}
    objective: Any
    reduction: str

    def __init__(self, name: str | None = None, **opts: Any) -> None:
        if name is not None:
            self.name = name
        check_options(self.name, opts, self.DEFAULTS)
        for k, v in {**self.DEFAULTS, **opts}.items():
            setattr(self, k, v)
        if self.reduction not in ("mean", "batchmean", "sum"):
            raise ConfigError(
                f"{self.name}: reduction must be 'mean' or 'sum', got {self.reduction!r}"
            )
        self.resolve_objectives()

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        logits = model(x)
        fn = self.objective_fn("objective")
        index = getattr(ctx, "index", None)
        loss = objective_loss(fn, logits, y, self.reduction, x=x, index=index, step=ctx)
        return StepOutput(loss, logits.detach(), self.objective_metrics())


@METHODS.register("natural")
def _natural(**opts: Any) -> Natural:
    """Natural training; options ``objective`` ("ce") and ``reduction`` ("mean")."""
    return Natural(**opts)
