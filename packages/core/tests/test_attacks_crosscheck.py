"""Cross-checks on a trained LeNet-5 / Fashion-MNIST batch: robustlab vs torchattacks and the
official AutoAttack code (pyautoattack). Robust accuracies in percent must agree within 1 point."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchattacks
from pyautoattack import AutoAttack as OfficialAutoAttack
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from pyautoattack.square import SquareAttack
from torch import Tensor, nn

from robustlab.core.attacks import (
    APGD,
    ATTACKS,
    CWL2,
    FGSM,
    MIFGSM,
    PGD,
    AutoAttack,
    DeepFool,
    Square,
)


def accuracy(model: nn.Module, x_adv: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return 100.0 * (model(x_adv).argmax(1) == y).float().mean().item()


def bounded_accuracy(model: nn.Module, x: Tensor, x_adv: Tensor, y: Tensor, eps: float) -> float:
    """Accuracy under a minimal-perturbation attack at L2 radius eps, tie-aware: an example is robust
    if it keeps a positive margin (> 1e-4) or its perturbation is larger than eps."""
    with torch.no_grad():
        z = model(x_adv)
    z_y = z.gather(1, y[:, None]).squeeze(1)
    other = z.scatter(1, y[:, None], float("-inf")).amax(1)
    robust = ((z_y - other) > 1e-4) | ((x_adv - x).flatten(1).norm(dim=1) > eps)
    return 100.0 * robust.float().mean().item()


@pytest.fixture(scope="module")
def setup(fmnist_lenet: nn.Module, fmnist_batch: tuple[Tensor, Tensor]):
    x, y = fmnist_batch
    assert accuracy(fmnist_lenet, x, y) > 60.0  # the fixture model really learned something
    return fmnist_lenet, x, y


@pytest.mark.parametrize(
    ("label", "ours", "theirs"),
    [
        ("fgsm", lambda: FGSM(eps=0.1), lambda m: torchattacks.FGSM(m, eps=0.1)),
        (
            "pgd-linf",
            lambda: PGD(eps=0.1, alpha=0.01, steps=10, seed=0),
            lambda m: torchattacks.PGD(m, eps=0.1, alpha=0.01, steps=10),
        ),
        (
            "pgd-l2",
            lambda: PGD(norm="L2", eps=1.0, alpha=0.2, steps=10, seed=0),
            lambda m: torchattacks.PGDL2(m, eps=1.0, alpha=0.2, steps=10),
        ),
        (
            "mifgsm",
            lambda: MIFGSM(eps=0.1, alpha=0.01, steps=10, decay=1.0),
            lambda m: torchattacks.MIFGSM(m, eps=0.1, alpha=0.01, steps=10, decay=1.0),
        ),
    ],
)
def test_vs_torchattacks(setup: Any, label: str, ours: Any, theirs: Any) -> None:
    model, x, y = setup
    torch.manual_seed(0)
    acc_theirs = accuracy(model, theirs(model)(x, y), y)
    acc_ours = accuracy(model, ours()(model, x, y), y)
    assert acc_ours < accuracy(model, x, y)
    assert abs(acc_ours - acc_theirs) <= 1.0, (label, acc_ours, acc_theirs)


def test_cw_l2_vs_torchattacks(setup: Any) -> None:
    model, x, y = setup
    x, y = x[:150], y[:150]
    x_theirs = torchattacks.CW(model, c=1.0, kappa=0.0, steps=50, lr=0.01)(x, y)
    x_ours = CWL2(c=1.0, kappa=0.0, steps=50, lr=0.01)(model, x, y)
    for eps in (0.5, 1.0, float("inf")):
        ours = bounded_accuracy(model, x, x_ours, y, eps)
        theirs = bounded_accuracy(model, x, x_theirs, y, eps)
        assert abs(ours - theirs) <= 1.0, (eps, ours, theirs)


@pytest.mark.slow
def test_deepfool_vs_torchattacks(setup: Any) -> None:
    """torchattacks' DeepFool (no 1e-4 term) can stall exactly on the decision boundary, where float
    noise decides the label; the tie-aware criterion compares the two fairly."""
    model, x, y = setup
    x, y = x[:100], y[:100]
    x_theirs = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y)
    x_ours = DeepFool(steps=50, overshoot=0.02)(model, x, y)
    assert accuracy(model, x_ours, y) == 0.0  # unbounded DeepFool always crosses the boundary
    for eps in (0.5, 1.0, 2.0):
        ours = bounded_accuracy(model, x, x_ours, y, eps)
        theirs = bounded_accuracy(model, x, x_theirs, y, eps)
        assert abs(ours - theirs) <= 1.0, (eps, ours, theirs)


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_apgd_ce_vs_official(setup: Any, norm: str) -> None:
    model, x, y = setup
    eps = 0.1 if norm == "Linf" else 1.0
    x, y = x[:250], y[:250]
    official = APGDAttack(model, n_iter=25, norm=norm, eps=eps, seed=0, loss="ce", device="cpu")
    acc_official = accuracy(model, official.perturb(x, y), y)
    acc_ours = accuracy(
        model, APGD(eps=eps, norm=norm, steps=25, loss="ce", seed=0)(model, x, y), y
    )
    assert abs(acc_ours - acc_official) <= 1.0, (acc_ours, acc_official)


def test_apgd_dlr_and_targeted_vs_official(setup: Any) -> None:
    model, x, y = setup
    x, y = x[:200], y[:200]
    dlr = APGDAttack(model, n_iter=20, norm="Linf", eps=0.1, seed=0, loss="dlr", device="cpu")
    ours = APGD(eps=0.1, steps=20, loss="dlr", seed=0)(model, x, y)
    assert abs(accuracy(model, ours, y) - accuracy(model, dlr.perturb(x, y), y)) <= 1.0
    tgt = APGDAttack_targeted(model, n_iter=20, norm="Linf", eps=0.1, seed=0,
                              n_target_classes=3, device="cpu")  # fmt: skip
    ours = APGD(eps=0.1, steps=20, loss="dlr", targeted=True, n_target_classes=3, seed=0)(
        model, x, y
    )
    assert abs(accuracy(model, ours, y) - accuracy(model, tgt.perturb(x, y), y)) <= 1.0


def test_square_wrapper_equals_official(setup: Any) -> None:
    model, x, y = setup
    x, y = x[:100], y[:100]
    official = SquareAttack(model, norm="Linf", n_queries=100, eps=0.1, p_init=0.8, seed=0,
                            loss="margin", resc_schedule=False, device="cpu")  # fmt: skip
    rng = torch.random.get_rng_state()
    ours = Square(eps=0.1, n_queries=100, seed=0)(model, x, y)
    assert torch.equal(torch.random.get_rng_state(), rng)  # global RNG untouched
    assert torch.equal(ours, official.perturb(x, y))


def test_autoattack_wrapper_equals_official(setup: Any) -> None:
    model, x, y = setup
    x, y = x[:40], y[:40]
    attacks = ["apgd-ce"]
    official = OfficialAutoAttack(model, attacks=attacks, device="cpu", eps=0.1, norm="Linf",
                                  seed=0, version="custom")  # fmt: skip
    official.verbose = False
    x_official, _ = official.run_standard_evaluation(x, y, batch_size=40)
    ours = AutoAttack(eps=0.1, version="custom", attacks=attacks)(model, x, y)
    assert torch.equal(ours, x_official)


@pytest.mark.slow
def test_autoattack_standard_equals_official(setup: Any) -> None:
    model, x, y = setup
    x, y = x[:100], y[:100]
    official = OfficialAutoAttack(model, device="cpu", eps=0.1, norm="Linf", seed=0)
    official.verbose = False
    x_official, _ = official.run_standard_evaluation(x, y, batch_size=100)
    ours = AutoAttack(eps=0.1)(model, x, y)
    assert torch.equal(ours, x_official)


FAST_TRAINED: dict[str, dict[str, Any]] = {
    "apgd-ce": {"steps": 10},
    "apgd-dlr": {"steps": 10},
    "apgd-t": {"steps": 10, "n_target_classes": 2},
    "cw-l2": {"steps": 20, "eps": 1.5},
    "deepfool": {"steps": 10, "eps": 1.5},
    "simba": {"max_queries": 300, "eps": 1.5, "norm": "L2", "alpha": 0.5, "basis": "dct"},
    "spsa": {"steps": 4, "samples": 16, "eps": 0.1, "lr": 0.05},
    "square": {"n_queries": 100},
}


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in ATTACKS.names()
        if ATTACKS.get(n).__module__.startswith("robustlab.core.") and n != "autoattack"
    ],
)
def test_every_attack_lowers_accuracy(setup: Any, name: str) -> None:
    """Each registered core attack, at a meaningful budget, lowers the trained model's accuracy
    (AutoAttack is covered by the equality test with the official code)."""
    model, x, y = setup
    x, y = x[:64], y[:64]
    kw = {"eps": 0.1, "seed": 0, **FAST_TRAINED.get(name, {})}
    if name == "pgd-l2":
        kw["eps"] = 1.5
    if name == "transfer":
        torch.manual_seed(1)
        kw["source"] = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    x_adv = ATTACKS.build(name, **kw)(model, x, y)
    clean = accuracy(model, x, y)
    assert accuracy(model, x_adv, y) <= clean
    if name != "transfer":  # an untrained substitute need not transfer
        assert accuracy(model, x_adv, y) < clean - 5.0, name
