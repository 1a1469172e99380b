"""Drop operators on intermediate feature maps of any zoo model (DropBlock / Disout / Dropout).

``add_map_drop(model, "dropblock", drop_prob=0.1, block_size=5)`` applies the operator to the
output of the model's last convolutional stage (``Classifier.map_drop_stage``) or of the named
submodules in ``after``. It is attached as a forward hook holding its own operator, so

* the state dict is unchanged (checkpoints stay interchangeable with the plain model);
* the operator follows the hooked submodule's train/eval mode (identity in eval);
* ``copy.deepcopy`` (e.g. AWP's proxy model) copies the hook with the model.

``build(name, map_drop={"kind": "dropblock", "drop_prob": 0.1, "block_size": 5})`` does the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from robustlab.core.models.drop import Disout, DropBlock, Dropout

__all__ = ["MAP_DROP_KINDS", "MapDropHook", "add_map_drop"]

MAP_DROP_KINDS: dict[str, type[nn.Module]] = {
    "dropblock": DropBlock,
    "disout": Disout,
    "dropout": Dropout,
}


class MapDropHook:
    """Forward hook ``output -> op(output)`` with ``op`` in the hooked module's train/eval mode."""

    def __init__(self, op: nn.Module) -> None:
        self.op = op

    def __call__(self, module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        self.op.train(module.training)
        return self.op(output)

    def __repr__(self) -> str:
        return f"MapDropHook({self.op!r})"


def add_map_drop(
    model: nn.Module,
    kind: str = "dropblock",
    after: str | Sequence[str] | None = None,
    **params: Any,
) -> list[str]:
    """Apply a drop operator to the outputs of submodules of ``model``.

    Args:
        model: Any module; with ``after=None`` it must define ``map_drop_stage``.
        kind: "dropblock" (Ghiasi et al. 2018), "disout" (Tang et al. 2020) or "dropout".
        after: Dotted submodule name(s) whose output is dropped, e.g. ``["layer3", "layer4"]``
            (DropBlock's ResNet-50 setting); default: the model's last convolutional stage.
        **params: Operator options (``drop_prob``/``block_size`` for DropBlock, ``dist_prob``/
            ``block_size``/``alpha`` for Disout, ``p`` for Dropout).

    Returns:
        The names of the hooked submodules.

    Raises:
        ValueError: unknown kind, unknown submodule name, or bad operator options.
    """
    if kind not in MAP_DROP_KINDS:
        raise ValueError(
            f"unknown map_drop kind {kind!r}; valid kinds: {', '.join(MAP_DROP_KINDS)}"
        )
    if after is None:
        after = getattr(model, "map_drop_stage", None)
        if not after:
            raise ValueError(
                f"{type(model).__name__} declares no map_drop_stage; pass after='<submodule name>'"
            )
    targets = [after] if isinstance(after, str) else list(after)
    named = dict(model.named_modules())
    for name in targets:
        if name not in named or name == "":
            raise ValueError(
                f"no submodule {name!r} in {type(model).__name__}; top-level names: "
                f"{', '.join(n for n, _ in model.named_children())}"
            )
        try:
            op = MAP_DROP_KINDS[kind](**params)
        except TypeError as err:
            raise ValueError(f"bad options {sorted(params)} for map_drop {kind!r}: {err}") from None
        named[name].register_forward_hook(MapDropHook(op))
    return targets
