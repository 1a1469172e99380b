"""``AttackContract``: the invariants every registered attack keeps (``attacks/base.py``).

For a tiny seeded model and random inputs x (B, C, H, W) in [0, 1] with labels y (B,) in
[0, num_classes): ``x_adv`` has the shape and dtype of ``x``, lies in the eps-ball of the attack's
norm (||x_adv - x||_p <= eps, p = Linf or L2) and in [0, 1]; ``x`` is not modified;
``model.training`` is unchanged in both modes; no gradient is written to the model's parameters;
the same seed gives the same ``x_adv``; bad settings and inputs raise a clear error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import torch
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, Attack
from robustlab.core.attacks.base import KINDS, NORMS
from robustlab.core.errors import UnknownOptionError


@dataclass
class AttackCase:
    """One attack to test.

    Attributes:
        name: Registered attack name.
        kwargs: Keyword options for ``ATTACKS.build`` (small budgets keep the tests fast).
        input_shape: (C, H, W) of the test inputs.
        num_classes: Classes of the test model.
        model: Optional ``factory(train: bool) -> nn.Module`` for the test model; default: a tiny
            conv + batch-norm + linear network for ``input_shape``/``num_classes``.
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, int, int] = (3, 8, 8)
    num_classes: int = 5
    model: Any = None

    def build(self, **overrides: Any) -> Attack:
        """``ATTACKS.build(name, **kwargs, **overrides)``."""
        attack = ATTACKS.build(self.name, **{**self.kwargs, **overrides})
        assert isinstance(attack, Attack), f"{self.name} built {type(attack).__name__}, not Attack"
        return attack

    def make_model(self, train: bool = False) -> nn.Module:
        """The seeded test model in train or eval mode, parameters without gradients."""
        if self.model is not None:
            return self.model(train).train(train)
        c, h, w = self.input_shape
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv2d(c, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * h * w, self.num_classes),
        )
        return net.train(train)

    def make_batch(self, batch: int = 3, seed: int = 0) -> tuple[Tensor, Tensor]:
        """x (batch, C, H, W) uniform in [0, 1] and y (batch,) int64 in [0, num_classes)."""
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(batch, *self.input_shape, generator=g)
        y = torch.randint(0, self.num_classes, (batch,), generator=g)
        return x, y


def _distance(delta: Tensor, norm: str) -> Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(dim=1)


class AttackContract:
    """Tests every attack passes. Subclass as ``TestX`` and set ``attack_name``/``build_kwargs``
    (or override the ``attack_case`` fixture, e.g. with ``params=`` over many names)."""

    attack_name: ClassVar[str] = ""
    build_kwargs: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def attack_case(self) -> AttackCase:
        """The attack under test (override for other input shapes or a parametrised registry)."""
        if not self.attack_name:
            pytest.fail(f"{type(self).__name__}: set attack_name or override attack_case")
        return AttackCase(self.attack_name, dict(self.build_kwargs))

    def test_declares_kind_and_norms(self, attack_case: AttackCase) -> None:
        attack = attack_case.build()
        cls = type(attack)
        assert cls.kind in KINDS, (
            f"{cls.__name__} must declare the class attribute kind as one of {KINDS}, "
            f"got {cls.kind!r}"
        )
        assert cls.norms and set(cls.norms) <= set(NORMS), f"{cls.__name__}.norms: {cls.norms}"
        assert attack.norm in cls.norms

    @pytest.mark.parametrize("train", [False, True], ids=["eval-mode", "train-mode"])
    def test_threat_model_and_side_effects(self, attack_case: AttackCase, train: bool) -> None:
        attack = attack_case.build(seed=1)
        model = attack_case.make_model(train)
        x, y = attack_case.make_batch()
        x_before = x.clone()
        x_adv = attack(model, x, y)
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
        assert torch.equal(x, x_before), "the attack modified its input x"
        assert model.training is train, "the attack changed model.training"
        assert all(p.grad is None for p in model.parameters()), "gradients left on the model"
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
        if math.isfinite(attack.eps):
            dist = _distance(x_adv - x, attack.norm)
            bound = attack.eps * (1 + 1e-5) + 1e-6
            assert bool((dist <= bound).all()), f"{attack.norm} distance {dist} > eps {attack.eps}"

    def test_deterministic_for_a_fixed_seed(self, attack_case: AttackCase) -> None:
        model = attack_case.make_model()
        x, y = attack_case.make_batch(seed=2)
        first = attack_case.build(seed=5)(model, x, y)
        assert torch.equal(attack_case.build(seed=5)(model, x, y), first)

    def test_negative_eps_rejected(self, attack_case: AttackCase) -> None:
        with pytest.raises(ValueError, match="eps"):
            attack_case.build(eps=-0.1)

    def test_unknown_option_rejected(self, attack_case: AttackCase) -> None:
        with pytest.raises(UnknownOptionError, match="unknown option 'no_such_option'") as info:
            attack_case.build(no_such_option=1)
        assert attack_case.name in str(info.value) and "valid:" in str(info.value)

    def test_bad_inputs_rejected(self, attack_case: AttackCase) -> None:
        attack = attack_case.build()
        model = attack_case.make_model()
        x, y = attack_case.make_batch(batch=2)
        k = attack_case.num_classes
        with pytest.raises(ValueError, match="NaN"):
            attack(model, torch.full_like(x, math.nan), y)
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            attack(model, x + 1.5, y)
        with pytest.raises(ValueError, match=rf"class indices in \[0, {k - 1}\]"):
            attack(model, x, torch.tensor([0, k]))
        with pytest.raises(ValueError, match="shape"):
            attack(model, x, torch.zeros(2, 1, dtype=torch.long))
        with pytest.raises(ValueError, match="batch size mismatch"):
            attack(model, x, torch.zeros(3, dtype=torch.long))
