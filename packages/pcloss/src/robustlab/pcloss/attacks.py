"""Black-box transfer from a substitute model that is trained (once) on demand.

The paper's black-box attacks (Table 3) craft PGD/MIM on a substitute model trained on the same
data (a 3-layer CNN for LeNet-5, ResNet-56 for VGG-13) and evaluate them on the target. Core's
``transfer`` attack needs the substitute as an ``nn.Module``; an evaluation suite, however, must
stay plain data (it is hashed and stored with the run). ``pcloss/transfer`` therefore takes the
substitute's *training configuration* and obtains the model through core's training engine:
``train(source_config, <cache>/<hash>)`` trains it the first time and simply loads the finished
run afterwards, so the CE and PC targets of a dataset are attacked with the same substitute.

Cache directory: ``source_dir`` if given, else ``$ROBUSTLAB_CACHE/pcloss/substitutes``, else
``~/.cache/robustlab/pcloss/substitutes``; one sub-directory per config hash.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, Attack
from robustlab.core.attacks.transfer import Transfer
from robustlab.core.utils import config_hash, get_logger

__all__ = ["SubstituteTransfer", "substitute_dir"]

log = get_logger(__name__)
_MODELS: dict[str, nn.Module] = {}


def substitute_dir(source_config: dict[str, Any], source_dir: str | None = None) -> Path:
    """Directory of the substitute's training run for ``source_config``."""
    if source_dir is not None:
        root = Path(source_dir)
    else:
        cache = os.environ.get("ROBUSTLAB_CACHE")
        base = Path(cache) if cache else Path.home() / ".cache" / "robustlab"
        root = base / "pcloss" / "substitutes"
    name = f"{source_config.get('dataset', 'data')}-{source_config.get('model', 'model')}"
    return root / f"{name}-{config_hash(source_config, 10)}"


def _substitute(source_config: dict[str, Any], source_dir: str | None) -> nn.Module:
    run_dir = substitute_dir(source_config, source_dir)
    key = str(run_dir)
    if key not in _MODELS:
        from robustlab.core.train import train

        log.info("black-box substitute: training or loading %s", run_dir)
        result = train(dict(source_config), run_dir, device="cpu", progress=False)
        _MODELS[key] = result.model.eval()
    return _MODELS[key]


class SubstituteTransfer(Attack):
    """Core's transfer attack with the substitute built from its training config.

    Args:
        source_config: ``TrainConfig.to_dict()`` of the substitute (e.g. CE-trained ``cnn3``).
        attack: Inner attack name ("pgd", "mifgsm", ...), crafted on the substitute.
        source_dir: Where the substitute's run lives (default: the cache, see module doc).
        **attack_kwargs: Inner attack options (eps, alpha, steps, seed, ...).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W) inside the inner eps-ball.
    """

    name = "pcloss/transfer"

    def __init__(
        self,
        source_config: dict[str, Any] | None = None,
        attack: str = "pgd",
        source_dir: str | None = None,
        **attack_kwargs: Any,
    ) -> None:
        if not isinstance(source_config, dict) or not source_config.get("model"):
            raise ValueError(
                "source_config must be the substitute's TrainConfig as a dict "
                f"(TrainConfig.to_dict()), got {source_config!r}"
            )
        self.inner = ATTACKS.build(attack, **attack_kwargs)
        super().__init__(self.inner.eps, norm=self.inner.norm, seed=self.inner.seed)
        self.source_config = dict(source_config)
        self.source_dir = source_dir

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        source = _substitute(self.source_config, self.source_dir).to(x.device)
        transfer = Transfer(self.inner, source=source)
        return transfer(model, x, y, **{k: v for k, v in ctx.items() if k != "logits_clean"})

    def __repr__(self) -> str:
        return f"SubstituteTransfer({self.inner!r}, source={self.source_config.get('model')})"


@ATTACKS.register("pcloss/transfer")
def _substitute_transfer(**kwargs: Any) -> SubstituteTransfer:
    return SubstituteTransfer(**kwargs)
