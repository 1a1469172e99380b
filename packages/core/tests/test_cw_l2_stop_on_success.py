"""CW-L2's accuracy-only mode (``stop_on_success``) decides exactly what the full attack decides."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from robustlab.core.attacks import CWL2


class RowCounter:
    """Forward pre-hook counting the rows the model sees."""

    def __init__(self, model: nn.Module) -> None:
        self.rows = 0
        self.handle = model.register_forward_pre_hook(self)

    def __call__(self, module: nn.Module, args: tuple[Tensor, ...]) -> None:
        self.rows += len(args[0])


def _fooled(model: nn.Module, x_adv: Tensor, y: Tensor) -> Tensor:
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


@pytest.mark.parametrize("search", [1, 3])
def test_same_fooled_set_with_fewer_rows(
    fmnist_lenet: nn.Module, fmnist_batch: tuple[Tensor, Tensor], search: int
) -> None:
    x, y = fmnist_batch[0][:96], fmnist_batch[1][:96]
    kw = {"c": 0.1, "steps": 60, "lr": 0.01, "binary_search_steps": search, "abort_early": False}
    full_counter = RowCounter(fmnist_lenet)
    x_full = CWL2(**kw)(fmnist_lenet, x, y)
    full_counter.handle.remove()
    fast_counter = RowCounter(fmnist_lenet)
    x_fast = CWL2(**kw, stop_on_success=True)(fmnist_lenet, x, y)
    fast_counter.handle.remove()
    fooled_full, fooled_fast = _fooled(fmnist_lenet, x_full, y), _fooled(fmnist_lenet, x_fast, y)
    assert 0 < int(fooled_full.sum()) < len(x)  # the comparison is not trivial
    assert torch.equal(fooled_full, fooled_fast)
    assert fast_counter.rows < 0.8 * full_counter.rows  # fooled rows really left the batch
    untouched = ~fooled_fast
    assert torch.equal(x_fast[untouched], x[untouched])  # never fooled: x returned
    assert x_fast.min() >= 0 and x_fast.max() <= 1


def test_default_mode_unchanged(
    fmnist_lenet: nn.Module, fmnist_batch: tuple[Tensor, Tensor]
) -> None:
    """The minimal-norm mode keeps the smallest successful perturbation (never larger than the
    accuracy-only mode's first success)."""
    x, y = fmnist_batch[0][:64], fmnist_batch[1][:64]
    kw = {"c": 1.0, "steps": 40, "abort_early": False}
    x_min = CWL2(**kw)(fmnist_lenet, x, y)
    x_first = CWL2(**kw, stop_on_success=True)(fmnist_lenet, x, y)
    both = _fooled(fmnist_lenet, x_min, y) & _fooled(fmnist_lenet, x_first, y)
    assert bool(both.any())
    d_min = (x_min - x).flatten(1).norm(dim=1)[both]
    d_first = (x_first - x).flatten(1).norm(dim=1)[both]
    assert bool((d_min <= d_first + 1e-5).all())


def test_finite_eps_is_rejected() -> None:
    with pytest.raises(ValueError, match="stop_on_success needs eps=inf"):
        CWL2(eps=1.0, stop_on_success=True)
