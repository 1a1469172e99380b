"""AutoAttack (Croce & Hein, ICML 2020): standard, plus, rand and custom suites, Linf and L2.

A thin wrapper around the official code carried by the PyPI package ``pyautoattack``
(``pyautoattack.AutoAttack(...).run_standard_evaluation``) — never a re-implementation — so that
numbers are comparable with RobustBench. Its printing is redirected into logging and torch's global
RNG state is restored afterwards.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from robustlab.core.attacks._official import quiet_official_code
from robustlab.core.attacks.base import ATTACKS, Attack, check_positive_int

VERSIONS = ("standard", "plus", "rand", "custom")
OFFICIAL_ATTACKS = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")


class AutoAttack(Attack):
    """Official AutoAttack ensemble (untargeted evaluation; worst case over its attacks).

    Args:
        eps: Radius (>= 0); default 8/255.
        version: "standard" (APGD-CE, APGD-T, FAB-T, Square), "plus", "rand" or "custom".
        attacks: With ``version="custom"``: a list from ``OFFICIAL_ATTACKS``.
        batch_size: Batch size of the official evaluation loop (default: the whole batch).
        seed: Seed passed to the official code (default 0; None would use the wall clock).
        **kwargs: ``norm`` ("Linf"|"L2"), ``autocast``.

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "autoattack"
    kind = "ensemble"

    def __init__(
        self,
        eps: float = 8 / 255,
        version: str = "standard",
        attacks: list[str] | None = None,
        batch_size: int | None = None,
        *,
        seed: int | None = 0,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("targeted"):
            raise ValueError("targeted must be False: AutoAttack runs its own targeted attacks")
        super().__init__(eps, seed=seed, **kwargs)
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
        if version == "custom":
            bad = [a for a in attacks or [] if a not in OFFICIAL_ATTACKS]
            if not attacks or bad:
                raise ValueError(
                    f"attacks must be a non-empty list from {OFFICIAL_ATTACKS} with "
                    f"version='custom', got {attacks!r}"
                )
        elif attacks is not None:
            raise ValueError("attacks is only used with version='custom'")
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        self.version, self.attacks, self.batch_size = version, attacks, batch_size

    def build_official(self, model: nn.Module, device: Any) -> Any:
        """The configured ``pyautoattack.AutoAttack`` object for ``model`` (also used by tests)."""
        from pyautoattack import AutoAttack as OfficialAutoAttack

        official = OfficialAutoAttack(
            model,
            attacks=list(self.attacks or []) if self.version == "custom" else None,
            device=device,
            eps=self.eps,
            norm=self.norm,
            seed=self.seed,
            version=self.version,
        )
        official.verbose = False
        return official

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        official = self.build_official(model, x.device)
        with quiet_official_code(x.device):
            x_adv, _ = official.run_standard_evaluation(x, y, batch_size=self.batch_size or len(x))
        return x_adv


@ATTACKS.register("autoattack")
def _autoattack(**kwargs: Any) -> AutoAttack:
    return AutoAttack(**kwargs)
