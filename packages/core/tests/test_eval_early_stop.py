"""Worst-case early stop in the evaluation harness (issue 18) on a small CNN trained on 8x8 digits.

An example an attack fools at some iterate keeps that iterate, counts as not robust and leaves the
attacked batch (the rows really leave: forward passes get smaller); independent mode and attacks
built for training keep their semantics; results stay deterministic and resumable.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS, PGD
from robustlab.core.eval import AttackSpec, EvalResult, Suite, evaluate
from robustlab.core.eval.harness import derive_seed

EPS = 0.1
PGD_KW = {"eps": EPS, "alpha": EPS / 4, "steps": 10, "random_start": True}


@pytest.fixture(scope="module")
def data() -> tuple[Tensor, Tensor, nn.Module]:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(10):
        for i in range(0, 1400, 100):
            opt.zero_grad()
            F.cross_entropy(net(x[i : i + 100]), y[i : i + 100]).backward()
            opt.step()
    return x[1400:1640], y[1400:1640], net.eval()


def _suite(worst_case: bool = True, **extra: Any) -> Suite:
    return Suite("pgd", [AttackSpec("PGD", "pgd", {**PGD_KW, **extra})], worst_case=worst_case)


def _eval(model: nn.Module, x: Tensor, y: Tensor, suite: Suite, **kw: Any) -> Any:
    opts = {"batch_size": 80, "progress": False, "checks": False, "seed": 1, **kw}
    return evaluate(model, (x, y), suite, **opts)


def test_plan_defaults_and_overrides() -> None:
    assert _suite().early_stop_plan() == [True]
    assert _suite(worst_case=False).early_stop_plan() == [False]
    assert _suite(worst_case=False).early_stop_plan(True) == [True]
    assert _suite().early_stop_plan(False) == [False]
    assert _suite(early_stop=False).early_stop_plan() == [False]  # the spec's own setting wins
    custom = Suite("c", [AttackSpec("C", lambda **kw: ATTACKS.build("pgd", **kw), PGD_KW)])
    assert custom.early_stop_plan() == [False]  # a factory that does not name the option
    mixed = Suite.parse("fgsm;pgd:steps=3;apgd-ce;autoattack;square")
    assert mixed.early_stop_plan() == [
        True,
        True,
        True,
        False,
        False,
    ]  # only attacks that honour it


def test_early_stop_never_raises_robust_accuracy(data: tuple) -> None:
    x, y, model = data
    on = _eval(model, x, y, _suite())
    off = _eval(model, x, y, _suite(), early_stop=False)
    assert on.early_stop and not off.early_stop
    robust_on, robust_off = (
        torch.tensor(on.per_example["PGD"]),
        torch.tensor(off.per_example["PGD"]),
    )
    assert not (robust_on & ~robust_off).any()  # robust with early stop => robust without
    assert on.robust_acc["PGD"] <= off.robust_acc["PGD"]
    assert on.per_example["clean"] == off.per_example["clean"]
    assert 0 < on.robust_acc["PGD"] < on.clean_acc  # the attack does something, not everything
    again = _eval(model, x, y, _suite())
    assert again.per_example == on.per_example  # deterministic
    assert EvalResult.from_json(on.to_json()).early_stop is True
    assert EvalResult.from_json(off.to_json()).early_stop is False


def test_fooled_rows_leave_the_batch(data: tuple) -> None:
    x, y, model = data
    sizes: list[int] = []
    hook = model.register_forward_hook(lambda _m, inp, _o: sizes.append(len(inp[0])))
    try:
        on = _eval(model, x, y, _suite(), batch_size=len(y))
        rows_on, calls_on = sum(sizes), list(sizes)
        sizes.clear()
        _eval(model, x, y, _suite(), batch_size=len(y), early_stop=False)
        rows_off = sum(sizes)
    finally:
        hook.remove()
    n, correct, steps = len(y), sum(on.per_example["clean"]), PGD_KW["steps"]
    # clean pass + (attack's own clean pass + steps + scoring pass) on the clean-correct rows
    assert rows_off == n + correct * (steps + 2)
    step_calls = calls_on[1:-1]  # the harness passes its clean logits: no clean pass inside
    assert len(step_calls) <= steps and step_calls[0] == correct
    assert all(b <= a for a, b in itertools.pairwise(step_calls))
    assert step_calls[-1] < correct and rows_on < rows_off - correct
    assert calls_on[-1] == correct  # every attacked example is scored on its returned x_adv


def _reference_pgd(model: nn.Module, x: Tensor, y: Tensor, seed: int, steps: int) -> Tensor:
    """Textbook PGD-Linf (Madry et al. 2018) with robustlab's random draw and clean pass."""
    eps, alpha = PGD_KW["eps"], PGD_KW["alpha"]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model(x)  # the attack's clean pass (BN in train mode updates its running stats)
    x_adv = (x + (2.0 * torch.rand(x.shape, generator=gen) - 1.0) * eps).clamp(0.0, 1.0)
    lo, hi = (x - eps).clamp(min=0.0), (x + eps).clamp(max=1.0)
    for _ in range(steps):
        leaf = x_adv.clone().requires_grad_(True)
        loss = F.cross_entropy(model(leaf), y, reduction="none").sum()
        (grad,) = torch.autograd.grad(loss, leaf)
        x_adv = torch.minimum(torch.maximum(x_adv + alpha * grad.sign(), lo), hi)
    return x_adv


@pytest.mark.parametrize("train_mode", [False, True])
def test_training_attack_is_bit_identical_to_plain_pgd(data: tuple, train_mode: bool) -> None:
    x, y, _ = data
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
    net = nn.Sequential(net, nn.Linear(4 * 64, 10)).train(train_mode)
    attack = ATTACKS.build("pgd", **PGD_KW, seed=5)
    assert attack.early_stop is False and PGD().early_stop is False  # off at the attack level
    state = {k: v.clone() for k, v in net.state_dict().items()}
    ours = attack(net, x[:64], y[:64])
    ours_stats = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    ref = _reference_pgd(net, x[:64], y[:64], seed=5, steps=PGD_KW["steps"])
    assert torch.equal(ours, ref)
    assert all(torch.equal(ours_stats[k], v) for k, v in net.state_dict().items())
    assert net.training is train_mode


@pytest.mark.parametrize(
    "name, kw",
    [
        ("pgd", PGD_KW),
        ("pgd", {**PGD_KW, "restarts": 3}),
        ("pgd-l2", {"eps": 0.5, "alpha": 0.2, "steps": 8}),
        ("mifgsm", {"eps": EPS, "steps": 8}),
        ("cw-linf", {"eps": EPS, "steps": 8}),
        ("fgsm-rs", {"eps": EPS}),
        ("apgd-ce", {"eps": EPS, "steps": 20}),
        ("apgd-t", {"eps": EPS, "steps": 10, "n_target_classes": 2}),
        ("apgd-dlr", {"eps": 0.5, "steps": 10, "norm": "L2"}),
        ("spsa", {"eps": EPS, "steps": 6, "samples": 16, "lr": 0.05}),
    ],
)
def test_early_stop_respects_the_threat_model(data: tuple, name: str, kw: dict) -> None:
    x, y, model = data
    x, y = x[:120], y[:120]
    rows: list[int] = []
    hook = model.register_forward_hook(lambda _m, inp, _o: rows.append(len(inp[0])))
    try:
        x_adv = ATTACKS.build(name, **kw, seed=2, early_stop=True)(model, x, y)
        rows_es = sum(rows)
        rows.clear()
        plain = ATTACKS.build(name, **kw, seed=2)(model, x, y)
        rows_plain = sum(rows)
    finally:
        hook.remove()
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if kw.get("eps") == EPS else delta.norm(dim=1)
    assert float(size.max()) <= kw["eps"] + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert rows_es <= rows_plain and (rows_es < rows_plain or name == "fgsm-rs")
    # restarts and SPSA draw their random starts / directions for the examples still standing
    if "restarts" not in kw and name != "spsa":
        with torch.no_grad():
            fooled, fooled_plain = model(x_adv).argmax(1) != y, model(plain).argmax(1) != y
        assert not (fooled_plain & ~fooled).any()  # fooled without early stop => fooled with it
    r = evaluate(model, (x, y), Suite("s", [AttackSpec("A", name, kw)]), progress=False)
    assert r.early_stop and r.flags["threat_model"]["passed"] is True


def test_early_stop_matches_direct_call_per_batch(data: tuple) -> None:
    """The harness result of a batch is that of the attack called with the batch's derived seed."""
    x, y, model = data
    r = _eval(model, x, y, _suite(), batch_size=80)
    for b in range(3):
        xb, yb = x[80 * b : 80 * (b + 1)], y[80 * b : 80 * (b + 1)]
        with torch.no_grad():
            ok = model(xb).argmax(1) == yb
        s = derive_seed(1, b, 0)
        torch.manual_seed(s)
        x_adv = PGD(**PGD_KW, seed=s, early_stop=True)(model, xb[ok], yb[ok])
        with torch.no_grad():
            robust = torch.zeros_like(ok)
            robust[ok] = model(x_adv).argmax(1) == yb[ok]
        assert r.per_example["PGD"][80 * b : 80 * (b + 1)] == robust.tolist()


class _CrashError(RuntimeError):
    pass


def test_resume_is_exact_with_early_stop(data: tuple, tmp_path: Any) -> None:
    x, y, model = data
    seen: list[Any] = []

    def flaky(fail_at: int | None) -> Any:
        calls = [0]

        def factory(**kw: Any) -> PGD:
            if "seed" in kw:  # a build for a batch (others only read the attack's settings)
                seen.append(kw.get("early_stop"))
                if calls[0] == fail_at:
                    raise _CrashError("simulated crash")
                calls[0] += 1
            return PGD(**kw)

        return factory

    full = _eval(model, x, y, _suite(), batch_size=40)
    state = tmp_path / "state.json"
    with ATTACKS.replaced("pgd", flaky(3)), pytest.raises(_CrashError):
        _eval(model, x, y, _suite(), batch_size=40, state_path=state)
    assert json.loads(state.read_text())["next_batch"] == 3 and set(seen) == {True}
    seen.clear()
    with ATTACKS.replaced("pgd", flaky(None)):
        resumed = _eval(model, x, y, _suite(), batch_size=40, state_path=state)
    assert seen == [True] * 3 and resumed.per_example == full.per_example  # batches 3, 4, 5 only
    assert resumed.early_stop
    with pytest.raises(Exception, match="different evaluation"):  # early stop is in the hash
        _eval(model, x, y, _suite(), batch_size=40, state_path=state, early_stop=False)


def test_independent_mode_keeps_its_semantics(data: tuple) -> None:
    x, y, model = data
    r = _eval(model, x, y, _suite(worst_case=False), batch_size=len(y))
    assert not r.early_stop
    s = derive_seed(1, 0, 0)
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    torch.manual_seed(s)
    x_adv = PGD(**PGD_KW, seed=s)(model, x[ok], y[ok])  # early_stop off: the attack's default
    with torch.no_grad():
        robust = torch.zeros_like(ok)
        robust[ok] = model(x_adv).argmax(1) == y[ok]
    assert r.per_example["PGD"] == robust.tolist()


def _spy_check_attacks(monkeypatch: pytest.MonkeyPatch) -> list[AttackSpec]:
    """Record the spec of every attack the sanity checks run (in order)."""
    from robustlab.core.eval import sanity

    specs: list[AttackSpec] = []
    original = sanity.attack_accuracy

    def spy(m: nn.Module, spec: AttackSpec, *args: Any) -> tuple[float, float]:
        specs.append(spec)
        return original(m, spec, *args)

    monkeypatch.setattr(sanity, "attack_accuracy", spy)
    return specs


@pytest.mark.parametrize("worst_case", [True, False])
def test_sanity_pgd_follows_the_protocol(data: tuple, worst_case: bool, monkeypatch) -> None:
    """The checks' PGD-10 early-stops exactly when the evaluation does."""
    from robustlab.core.eval import SanityConfig

    x, y, model = data
    specs = _spy_check_attacks(monkeypatch)
    # FGSM first (the checks' budget) and the suite's PGD at another eps: the check runs PGD-10
    suite = Suite(
        "fp",
        [
            AttackSpec("FGSM", "fgsm", {"eps": EPS}),
            AttackSpec("PGD", "pgd", {**PGD_KW, "eps": 2 * EPS}),
        ],
        worst_case=worst_case,
    )
    r = _eval(model, x[:64], y[:64], suite, checks=SanityConfig(n=64))
    pgd = next(s for s in specs if s.kwargs.get("steps") == 10)
    assert pgd.kwargs.get("early_stop", False) is worst_case
    assert pgd.kwargs["alpha"] == pytest.approx(EPS / 4) and pgd.kwargs["random_start"]
    assert r.flags["iterative_ge_single_step"]["passed"] is True


@pytest.mark.parametrize("worst_case", [True, False])
def test_sanity_reuses_the_suites_own_pgd(data: tuple, worst_case: bool, monkeypatch) -> None:
    """A suite whose own iterative attack ran alone at the checks' budget spares the PGD-10."""
    from robustlab.core.eval import SanityConfig

    x, y, model = data
    specs = _spy_check_attacks(monkeypatch)
    r = _eval(model, x[:64], y[:64], _suite(worst_case), checks=SanityConfig(n=64))
    assert [s.kwargs.get("steps") for s in specs] == [1]  # the single-step check only
    flag = r.flags["iterative_ge_single_step"]
    assert "PGD" in flag["detail"] and flag["iterative"] == pytest.approx(r.robust_acc["PGD"])
