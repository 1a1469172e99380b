"""Registry-wide attack invariants (every registered name, paper packages' included) on random
small models, the attack contract (``robustlab.core.testing.AttackContract``), option validation
and the losses."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from robustlab.core.attacks import ATTACKS, LOSSES, PGD, Attack, get_loss
from robustlab.core.attacks.losses import dlr_loss, kl_loss
from robustlab.core.errors import ConfigError, UnknownNameError, UnknownOptionError
from robustlab.core.testing import AttackCase, AttackContract

EXPECTED = {
    "fgsm", "fgsm-rs", "bim", "pgd", "pgd-l2", "mifgsm", "apgd-ce", "apgd-dlr", "apgd-t",
    "cw-linf", "cw-l2", "deepfool", "simba", "spsa", "square", "autoattack", "transfer",
}  # fmt: skip


#: Paper packages whose entries need a case only the package can build (a guide model, a teacher
#: run, AutoAttack stages with standard's budgets) run these contract classes in their own suites
#: (packages/<name>/tests); core's registry-wide tests cover every other entry, ctr's and pcloss's
#: included.
OWN_CASES = ("ltd/", "isce/", "d2r/")

#: Every registered attack, paper packages' entries included (loaded through their entry points).
ALL_NAMES = [n for n in ATTACKS.names() if not n.startswith(OWN_CASES)]


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
# Paper attacks built on a core attack (ctr/s-pgd, ...) get the budget of their base.
BASE_OF = {"fgsm": "fgsm", "pgd": "pgd", "apgd": "apgd-ce"}


def fast_kwargs(name: str, **extra: Any) -> dict[str, Any]:
    base = BASE_OF.get(name.rsplit("-", 1)[-1], name) if "/" in name else name
    kw = dict(FAST.get(base, {}))
    if name == "transfer":
        kw["source"] = _source()
        kw["steps"] = 2
    if name == "pcloss/transfer":
        kw["steps"] = 2
    kw.update(extra)
    return kw


@pytest.fixture(scope="module")
def substitute_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A finished 1-epoch digits-28 LeNet-5 run: the source model of ``pcloss/transfer``."""
    from robustlab.core.train import train

    run = tmp_path_factory.mktemp("substitute") / "run"
    config = {"dataset": "digits-28", "model": "lenet5", "n_train": 64, "n_test": 32}
    config.update(batch_size=32, epochs=1, precision="fp32")
    train(config, run, device="cpu", progress=False)
    return str(run)


def case_for(name: str, request: pytest.FixtureRequest) -> AttackCase:
    """The contract case of a registered attack: fast budgets, and its context where it needs one
    (``pcloss/transfer`` crafts on a trained digits-28 substitute, so its inputs are 1x28x28)."""
    if name == "pcloss/transfer":
        kw = fast_kwargs(name, source_run=request.getfixturevalue("substitute_run"))
        return AttackCase(name, kw, input_shape=(1, 28, 28), num_classes=10)
    return AttackCase(name, fast_kwargs(name))


class TestEveryRegisteredAttack(AttackContract):
    """The attack contract over every registered name (core's and the paper packages')."""

    @pytest.fixture(params=ALL_NAMES)
    def attack_case(self, request: pytest.FixtureRequest) -> AttackCase:
        return case_for(request.param, request)


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


@pytest.mark.parametrize("name", ALL_NAMES)
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    batch=st.integers(1, 3),
    eps=st.sampled_from([0.0, 2 / 255, 8 / 255, 0.3]),
    l2=st.booleans(),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_invariants(
    request: pytest.FixtureRequest,
    name: str,
    batch: int,
    eps: float,
    l2: bool,
    train: bool,
    seed: int,
) -> None:
    """Shape/dtype, threat model, [0, 1], x and model untouched, no param grads, determinism,
    over random budgets, norms, batch sizes and model modes."""
    case = case_for(name, request)
    norms = type(case.build()).norms
    norm = "L2" if (l2 and "L2" in norms) or "Linf" not in norms else "Linf"
    if "Linf" not in norms:
        eps = eps * 10  # minimal-perturbation L2 attacks: their own radius scale
    attack = case.build(eps=eps, seed=3, norm=norm)
    model = case.make_model(train)
    x, y = case.make_batch(batch, seed)
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


def test_unknown_option_lists_valid_ones_and_suggests() -> None:
    with pytest.raises(UnknownOptionError) as info:
        ATTACKS.build("pgd", stepz=5)
    msg = str(info.value)
    assert msg.startswith("unknown option 'stepz' for attack 'pgd'; valid: alpha, ")
    assert "steps" in msg and "did you mean 'steps'" in msg
    assert isinstance(info.value, ConfigError) and isinstance(info.value, TypeError)
    assert info.value.option == "stepz" and "random_start" in info.value.valid


def test_unknown_option_of_a_wrapping_attack_names_both() -> None:
    """transfer passes its keywords on to the inner attack: the error says so."""
    with pytest.raises(
        UnknownOptionError, match=r"for attack 'transfer' \(passed on to attack 'pgd'\)"
    ) as info:
        ATTACKS.build("transfer", source=_source(), stepz=5)
    assert {"source", "steps"} <= set(info.value.valid)


def test_kind_and_norms_are_class_attributes() -> None:
    from robustlab.core.attacks import (
        CWL2,
        FGSM,
        SPSA,
        AutoAttack,
        DeepFool,
        SimBA,
        Square,
        Transfer,
    )
    from robustlab.core.attacks.base import KINDS

    assert (FGSM.kind, PGD.kind, CWL2.kind, DeepFool.kind) == (
        "single-step", "iterative", "optimization", "optimization",
    )  # fmt: skip
    assert {SimBA.kind, SPSA.kind, Square.kind} == {"black-box"}
    assert (Transfer.kind, AutoAttack.kind) == ("transfer", "ensemble")
    assert CWL2.norms == ("L2",) and SimBA.norms[0] == "L2" and PGD.norms == ("Linf", "L2")
    assert Attack.kind == "" and set(KINDS) >= {FGSM.kind, PGD.kind}


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
