"""Registry-wide attack invariants on random small models, input validation and the losses."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from robustlab.core.attacks import ATTACKS, LOSSES, PGD, Attack, get_loss
from robustlab.core.attacks.losses import dlr_loss, kl_loss
from robustlab.core.errors import UnknownNameError

EXPECTED = {
    "fgsm", "fgsm-rs", "bim", "pgd", "pgd-l2", "mifgsm", "apgd-ce", "apgd-dlr", "apgd-t",
    "cw-linf", "cw-l2", "deepfool", "simba", "spsa", "square", "autoattack", "transfer",
}  # fmt: skip


def _core_names() -> list[str]:
    """Core's own attacks (paper packages test the entries they register themselves)."""
    return [n for n in ATTACKS.names() if ATTACKS.get(n).__module__.startswith("robustlab.core.")]


CORE_NAMES = _core_names()


def _source() -> nn.Module:
    torch.manual_seed(7)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))


# Small budgets so that every registered attack runs in well under a second on a tiny model.
FAST: dict[str, dict[str, Any]] = {
    "bim": {"steps": 3},
    "pgd": {"steps": 3},
    "pgd-l2": {"steps": 3},
    "mifgsm": {"steps": 3},
    "cw-linf": {"steps": 3},
    "apgd-ce": {"steps": 5},
    "apgd-dlr": {"steps": 5},
    "apgd-t": {"steps": 5, "n_target_classes": 2},
    "cw-l2": {"steps": 5, "binary_search_steps": 2},
    "deepfool": {"steps": 3},
    "simba": {"max_queries": 10},
    "spsa": {"steps": 2, "samples": 4},
    "square": {"n_queries": 10},
    "autoattack": {"version": "custom", "attacks": ["apgd-ce"]},
}
# Attacks whose threat model is fixed to L2 (minimal-perturbation attacks).
L2_ONLY = {"cw-l2", "deepfool"}


def fast_kwargs(name: str, **extra: Any) -> dict[str, Any]:
    kw = dict(FAST.get(name, {}))
    if name == "transfer":
        kw["source"] = _source()
        kw["steps"] = 2
    kw.update(extra)
    return kw


def small_model(train: bool = False, num_classes: int = 5) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 8 * 8, num_classes),
    )
    return model.train(train)


def test_registry_has_all_attacks() -> None:
    assert set(ATTACKS.names()) >= EXPECTED
    with pytest.raises(UnknownNameError, match="pgd"):
        ATTACKS.build("pgdd")


@pytest.mark.parametrize("name", CORE_NAMES)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 3),
    eps=st.sampled_from([0.0, 2 / 255, 8 / 255, 0.3]),
    l2=st.booleans(),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_invariants(name: str, batch: int, eps: float, l2: bool, train: bool, seed: int) -> None:
    """Shape/dtype, threat model, [0, 1], x and model untouched, no param grads, determinism."""
    norm = "L2" if (l2 or name in L2_ONLY) else "Linf"
    if name in ("cw-l2", "deepfool"):
        eps = eps * 10  # their own L2 radius scale
    extra: dict[str, Any] = {"eps": eps, "seed": 3}
    if name not in L2_ONLY:
        extra["norm"] = norm
    attack = ATTACKS.build(name, **fast_kwargs(name, **extra))
    model = small_model(train)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 8, 8, generator=g)
    y = torch.randint(0, 5, (batch,), generator=g)
    x_before = x.clone()
    x_adv = attack(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert torch.equal(x, x_before)
    assert model.training is train
    assert all(p.grad is None for p in model.parameters())
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    dist = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
    assert (dist <= eps * (1 + 1e-5) + 1e-6).all(), (dist, eps)
    assert torch.equal(attack(model, x, y), x_adv)


@pytest.mark.parametrize("name", CORE_NAMES)
def test_bad_inputs(name: str) -> None:
    attack = ATTACKS.build(name, **fast_kwargs(name))
    model = small_model()
    x, y = torch.rand(2, 3, 8, 8), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack(model, x + 1.5, y)
    with pytest.raises(ValueError, match="NaN"):
        attack(model, torch.full_like(x, math.nan), y)
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 4\]"):
        attack(model, x, torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="batch size mismatch"):
        attack(model, x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="shape"):
        attack(model, x, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="eps"):
        ATTACKS.build(name, **fast_kwargs(name, eps=-0.1))


@pytest.mark.parametrize(
    ("name", "kw", "match"),
    [
        ("pgd", {"steps": 0}, "steps"),
        ("pgd", {"alpha": 0.0}, "alpha"),
        ("pgd", {"alpha": -1.0}, "alpha"),
        ("pgd", {"norm": "L1"}, "norm"),
        ("pgd", {"restarts": 0}, "restarts"),
        ("bim", {"steps": 0}, "steps"),
        ("mifgsm", {"alpha": 0.0}, "alpha"),
        ("fgsm", {"alpha": 0.0}, "alpha"),
        ("apgd-ce", {"steps": 0}, "steps"),
        ("cw-l2", {"steps": 0}, "steps"),
        ("cw-l2", {"c": 0.0}, "c must"),
        ("deepfool", {"steps": 0}, "steps"),
        ("deepfool", {"targeted": True}, "targeted"),
        ("simba", {"alpha": 0.0}, "alpha"),
        ("simba", {"basis": "wavelet"}, "basis"),
        ("spsa", {"samples": 0}, "samples"),
        ("square", {"n_queries": 0}, "n_queries"),
        ("autoattack", {"version": "custom", "attacks": []}, "attacks"),
        ("autoattack", {"version": "fast"}, "version"),
        ("transfer", {"source": None}, "source"),
    ],
)
def test_bad_settings(name: str, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ATTACKS.build(name, **{**fast_kwargs(name), **kw})


def test_inference_mode_caller_and_autocast_off() -> None:
    """Attacks work when called under inference_mode/no_grad and run in fp32 under autocast."""
    model = small_model()
    x, y = torch.rand(4, 3, 8, 8), torch.randint(0, 5, (4,))
    seen: list[torch.dtype] = []

    def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        seen.append(out.dtype)

    model[0].register_forward_hook(hook)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        x_adv = PGD(steps=2)(model, x, y)
    assert x_adv.dtype == torch.float32 and set(seen) == {torch.float32}
    seen.clear()
    PGD(steps=1, autocast=True)(model, x, y)
    assert torch.bfloat16 in seen


def test_pgd_restarts_early_stop_targeted() -> None:
    model = small_model()
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    base = PGD(eps=0.05, alpha=0.01, steps=5, seed=0)
    strong = PGD(eps=0.05, alpha=0.01, steps=5, seed=0, restarts=4)
    with torch.no_grad():
        acc_base = (model(base(model, x, y)).argmax(1) == y).sum()
        acc_strong = (model(strong(model, x, y)).argmax(1) == y).sum()
    assert acc_strong <= acc_base
    es = PGD(eps=0.3, alpha=0.05, steps=10, early_stop=True)
    with torch.no_grad():
        fooled = model(es(model, x, y)).argmax(1) != y
    assert fooled.float().mean() > 0.5
    ll = PGD(eps=1.0, alpha=0.1, steps=30, targeted=True, target="least-likely")
    with torch.no_grad():
        logits = model(x)
        target = logits.argmin(1)
        hit = model(ll(model, x, y)).argmax(1) == target
    assert hit.float().mean() > 0.5
    explicit = (y + 1) % 5
    tgt = PGD(eps=1.0, alpha=0.1, steps=30, targeted=True)
    with torch.no_grad():
        assert (
            model(tgt(model, x, y, y_target=explicit)).argmax(1) == explicit
        ).float().mean() > 0.5


def test_custom_loss_gets_ctx() -> None:
    calls: list[set[str]] = []

    def my_loss(logits: torch.Tensor, y: torch.Tensor, **ctx: Any) -> torch.Tensor:
        calls.append(set(ctx))
        return F.cross_entropy(logits, y, reduction="none") + 0 * ctx["teacher_logits"].sum(1)

    model = small_model()
    x, y = torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 2])
    PGD(steps=2, loss=my_loss)(model, x, y, teacher_logits=torch.zeros(3, 5))
    assert calls and all({"logits_clean", "teacher_logits"} <= c for c in calls)


def test_losses_values() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, 0.5]])
    y = torch.tensor([0, 0])
    ce = get_loss("ce")(logits, y)
    assert torch.allclose(ce, -F.log_softmax(logits, 1)[:, 0])
    # DLR: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3)
    expected = torch.tensor([-(3 - 1) / (3 - 0), -(0 - 2) / (2 - 0.5)])
    assert torch.allclose(dlr_loss(logits, y), expected)
    assert torch.allclose(get_loss("cw")(logits, y), torch.tensor([1.0 - 3.0, 2.0 - 0.0]))
    p = F.softmax(logits, 1)
    q_logits = logits.flip(1)
    kl = (p * (p.log() - F.log_softmax(q_logits, 1))).sum(1)
    assert torch.allclose(kl_loss(q_logits, y, logits_clean=logits), kl)
    assert torch.allclose(kl_loss(logits, y, logits_clean=logits), torch.zeros(2), atol=1e-6)
    assert {"ce", "dlr", "cw", "kl"} <= set(LOSSES.names())
    with pytest.raises(ValueError, match="logits_clean"):
        kl_loss(logits, y)
    with pytest.raises(ValueError, match="loss"):
        get_loss(3)  # type: ignore[arg-type]


def test_attack_is_model_free_and_reusable() -> None:
    attack = ATTACKS.build("pgd", steps=2, seed=0)
    assert isinstance(attack, Attack) and "PGD" in repr(attack)
    for num_classes in (3, 7):
        model = small_model(num_classes=num_classes)
        out = attack(model, torch.rand(2, 3, 8, 8), torch.tensor([0, 2]))
        assert out.shape == (2, 3, 8, 8)
