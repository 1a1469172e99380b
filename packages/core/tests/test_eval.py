"""The evaluation harness on a small CNN trained on scikit-learn's 8x8 digits."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.errors import ConfigError
from robustlab.core.eval import (
    ROBUSTBENCH_KEYS,
    SUITES,
    AttackSpec,
    EvalResult,
    SanityConfig,
    Suite,
    evaluate,
)

EPS = 0.1


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="module")
def model(digits: tuple[Tensor, ...]) -> nn.Module:
    xtr, ytr, _, _ = digits
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(15):
        for i in range(0, len(ytr), 100):
            opt.zero_grad()
            F.cross_entropy(net(xtr[i : i + 100]), ytr[i : i + 100]).backward()
            opt.step()
    return net.eval()


@pytest.fixture()
def test_data(digits: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    return digits[2][:200], digits[3][:200]


def direct_flags(model: nn.Module, name: str, kw: dict[str, Any], x: Tensor, y: Tensor) -> Tensor:
    """Robust flags from calling the registered attack directly on the whole batch."""
    x_adv = ATTACKS.build(name, **kw)(model, x, y)
    with torch.no_grad():
        return (model(x).argmax(1) == y) & (model(x_adv).argmax(1) == y)


DET = {"eps": EPS, "steps": 10, "alpha": EPS / 4, "random_start": False}


def test_independent_matches_direct_calls(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data
    suite = Suite(
        "s",
        [AttackSpec("FGSM", "fgsm", {"eps": EPS}), AttackSpec("PGD", "pgd", DET)],
        worst_case=False,
    )
    r = evaluate(model, (x, y), suite, batch_size=64, progress=False, checks=False)
    with torch.no_grad():
        assert r.clean_acc == pytest.approx(100 * float((model(x).argmax(1) == y).float().mean()))
    for label, name, kw in [("FGSM", "fgsm", {"eps": EPS}), ("PGD", "pgd", DET)]:
        ref = direct_flags(model, name, kw, x, y)
        ours = torch.tensor(r.per_example[label])
        assert (ours != ref).sum() <= 1, label  # float ties at most
    assert r.robust_acc["PGD"] <= r.robust_acc["FGSM"] + 1
    assert r.robust_acc["PGD"] < r.clean_acc
    worst = torch.tensor(r.per_example["FGSM"]) & torch.tensor(r.per_example["PGD"])
    assert r.per_example["worst_case"] == worst.tolist()
    assert r.worst_case_acc <= min(r.robust_acc.values())
    assert set(r.times) == {"clean", "FGSM", "PGD"} and all(t >= 0 for t in r.times.values())
    assert r.mode == "independent" and r.n == 200 and r.eps == EPS and r.norm == "Linf"


def test_worst_case_mode_is_cumulative(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data
    calls: list[int] = []

    def counting_pgd(**kw: Any) -> Any:
        inner = ATTACKS.build("pgd", **kw)

        def run(m: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
            calls.append(len(yb))
            return inner(m, xb, yb)

        return run

    suite = Suite(
        "s", [AttackSpec("FGSM", "fgsm", {"eps": EPS}), AttackSpec("PGD", counting_pgd, DET)]
    )
    r = evaluate(model, (x, y), suite, batch_size=500, progress=False, checks=False)
    fgsm_robust = sum(r.per_example["FGSM"])
    assert calls == [fgsm_robust]  # PGD only ran on examples FGSM did not break
    assert r.robust_acc["PGD"] <= r.robust_acc["FGSM"] <= r.clean_acc
    assert r.worst_case_acc == r.robust_acc["PGD"]
    assert r.per_example["worst_case"] == r.per_example["PGD"]
    indep = evaluate(
        model,
        (x, y),
        Suite("s", suite.attacks, worst_case=False),
        batch_size=500,
        progress=False,
        checks=False,
    )
    assert indep.worst_case_acc == pytest.approx(r.worst_case_acc)


def test_model_mode_restored_and_inputs_validated(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data
    model.train()
    rng = torch.get_rng_state()
    try:
        r = evaluate(model, (x[:20], y[:20]), "fgsm", eps=EPS, progress=False, checks=False)
        assert model.training
        assert torch.equal(rng, torch.get_rng_state())  # caller's RNG untouched
    finally:
        model.eval()
    assert r.n == 20 and r.suite == "fgsm"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluate(model, (x * 2, y), "fgsm", progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(model, (x, y), "fgsm", batch_size=0, progress=False)
    with pytest.raises(ValueError, match="n must be"):
        evaluate(model, (x, y), "fgsm", n=0, progress=False)
    with pytest.raises(ValueError, match=r"y \(N,\)"):
        evaluate(model, (x, y[:5]), "fgsm", progress=False)
    with pytest.raises(ValueError, match="tensor pair"):
        evaluate(model, (x,), "fgsm", progress=False)


class SimulatedCrashError(RuntimeError):
    pass


class FlakyPGD:
    """Factory for PGD that counts its batches and raises at batch ``fail_at`` (0-based)."""

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at, self.batches = fail_at, 0

    def __call__(self, **kw: Any) -> Any:
        inner = ATTACKS.build("pgd", **kw)

        def run(m: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
            if self.batches == self.fail_at:
                raise SimulatedCrashError("simulated crash")
            self.batches += 1
            return inner(m, xb, yb)

        return run


def _resume_suite(factory: FlakyPGD) -> Suite:
    kw = {"eps": EPS, "steps": 5, "alpha": EPS / 4, "random_start": True}
    spec = AttackSpec("PGD", factory, kw)
    spec.attack.__qualname__ = "FlakyPGD"  # type: ignore[union-attr]
    return Suite("s", [AttackSpec("FGSM", "fgsm", {"eps": EPS}), spec], worst_case=False)


def test_resume_after_interrupt(model: nn.Module, test_data: tuple, tmp_path) -> None:
    x, y = test_data
    opts = {"batch_size": 40, "progress": False, "checks": False, "seed": 3}
    full = evaluate(model, (x, y), _resume_suite(FlakyPGD(None)), **opts)

    state = tmp_path / "state.json"
    crashing = FlakyPGD(fail_at=2)
    with pytest.raises(SimulatedCrashError):
        evaluate(model, (x, y), _resume_suite(crashing), state_path=state, **opts)
    saved = json.loads(state.read_text())
    assert saved["next_batch"] == 2 and saved["flags"]["PGD"].count("-") == 200 - 80

    resumed_factory = FlakyPGD(None)
    resumed = evaluate(model, (x, y), _resume_suite(resumed_factory), state_path=state, **opts)
    assert resumed_factory.batches == 3  # batches 2, 3, 4 only: 0 and 1 were not recomputed
    assert resumed.per_example == full.per_example
    assert resumed.robust_acc == full.robust_acc and resumed.clean_acc == full.clean_acc

    again = FlakyPGD(None)  # a finished state recomputes nothing
    evaluate(model, (x, y), _resume_suite(again), state_path=state, **opts)
    assert again.batches == 0
    with pytest.raises(ConfigError, match="different evaluation"):
        evaluate(
            model, (x, y), _resume_suite(FlakyPGD(None)), state_path=state, **{**opts, "seed": 4}
        )


def test_json_frame_save_load(model: nn.Module, test_data: tuple, tmp_path) -> None:
    x, y = test_data
    r = evaluate(
        model,
        (x[:50], y[:50]),
        "fgsm",
        eps="8/255",
        progress=False,
        checks=False,
        dataset="digits",
        architecture="tiny-cnn",
        meta={"note": "test"},
    )
    j = r.to_json(name="Tiny", venue="tests")
    assert j["eps"] == "8/255" and j["dataset"] == "digits" and j["architecture"] == "tiny-cnn"
    assert j["clean_acc"] == f"{r.clean_acc:.2f}" and j["name"] == "Tiny"
    assert "autoattack_acc" not in j
    assert set(j) - {"robustlab"} <= set(ROBUSTBENCH_KEYS)
    body = j["robustlab"]
    for key in (
        "robust_acc",
        "worst_case_acc",
        "per_example",
        "times",
        "flags",
        "seed",
        "versions",
        "device",
        "dtype",
        "n",
        "mode",
        "config_hash",
        "attacks",
    ):
        assert key in body, key
    assert body["versions"]["torch"] == torch.__version__
    with pytest.raises(ValueError, match="unknown RobustBench keys"):
        r.to_json(bogus=1)
    path = r.save(tmp_path / "r.json")
    assert EvalResult.load(path) == r
    frame = r.to_frame()
    assert list(frame["label"]) == ["clean", "FGSM", "worst_case"]
    assert frame.loc[1, "accuracy"] == pytest.approx(r.robust_acc["FGSM"])
    assert set(frame.columns) >= {
        "label",
        "attack",
        "eps",
        "norm",
        "accuracy",
        "time_s",
        "n",
        "mode",
    }


def test_autoattack_acc_key() -> None:
    r = EvalResult(
        suite="autoattack",
        attacks=[{"label": "AA", "attack": "autoattack", "kwargs": {"eps": "8/255"}}],
        worst_case=True,
        n=2,
        clean_acc=100.0,
        robust_acc={"AA": 50.0},
        worst_case_acc=50.0,
        per_example={"clean": [True, True], "AA": [True, False], "worst_case": [True, False]},
        times={},
        flags={"x": {"passed": False, "detail": "d"}},
        eps=8 / 255,
    )
    assert r.to_json()["autoattack_acc"] == "50.00"
    assert r.failed_checks == ["x"]


# --------------------------------------------------------------------------- sanity checks


class Quantized(nn.Module):
    """Rounds inputs to 8 levels: zero gradient almost everywhere (masked gradients)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * 7) / 7)


class Hot(nn.Module):
    """Logits times a huge temperature: CE saturates, its gradient underflows to 0."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) * 1e4


SWEEP = SanityConfig(n=100, eps_sweep=True)


def test_plain_model_passes_checks(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data
    r = evaluate(model, (x, y), "pgd20", eps=EPS, progress=False, checks=SWEEP)
    assert r.failed_checks == [], r.flags
    expected = {
        "logits_finite",
        "deterministic_output",
        "threat_model",
        "gradients_nonzero",
        "iterative_ge_single_step",
        "whitebox_ge_blackbox",
        "accuracy_to_zero",
    }
    assert set(r.flags) == expected | {"masked_ce_loss"}
    assert all(r.flags[k]["passed"] for k in expected)
    assert r.flags["masked_ce_loss"]["passed"] is None  # worst-case suite: not applicable
    assert r.eps_sweep and r.eps_sweep[-1]["accuracy"] <= 5.0


@pytest.mark.parametrize("wrapper", [Quantized, Hot])
def test_masked_gradients_are_flagged(model: nn.Module, test_data: tuple, wrapper, caplog) -> None:
    x, y = test_data
    with caplog.at_level(logging.WARNING, logger="robustlab"):
        r = evaluate(wrapper(model), (x, y), "pgd20", eps=EPS, progress=False, checks=SWEEP)
    assert "gradients_nonzero" in r.failed_checks
    assert "accuracy_to_zero" in r.failed_checks
    assert "gradients_nonzero" in caplog.text
    assert json.loads(json.dumps(r.to_json()))["robustlab"]["failed_checks"] == r.failed_checks


def test_random_output_and_nan_logits_are_flagged(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data

    class Noisy(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return F.dropout(model(x), 0.5, training=True)

    class NaNs(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            out = model(x)
            total = x.flatten(1).sum(1, keepdim=True)
            return torch.where(total > total.median(), torch.nan, out)

    cfg = SanityConfig(n=64)
    r = evaluate(Noisy(), (x[:64], y[:64]), "fgsm", eps=EPS, progress=False, checks=cfg)
    assert "deterministic_output" in r.failed_checks
    r = evaluate(NaNs(), (x[:64], y[:64]), "fgsm", eps=EPS, progress=False, checks=cfg)
    assert "logits_finite" in r.failed_checks


def test_attack_leaving_threat_model_is_flagged(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data

    def cheat(eps: float, **_: Any) -> Any:
        return lambda m, xb, yb: (xb + 2 * eps).clamp(0, 1)

    suite = Suite("s", [AttackSpec("cheat", cheat, {"eps": EPS})])
    r = evaluate(model, (x[:64], y[:64]), suite, progress=False, checks=SanityConfig(n=64))
    assert "threat_model" in r.failed_checks
    assert r.flags["threat_model"]["excess"]["cheat"] == pytest.approx(EPS, abs=1e-5)


# --------------------------------------------------------------------------- AutoAttack


def test_autoattack_suite_matches_official(model: nn.Module, test_data: tuple) -> None:
    from pyautoattack import AutoAttack

    x, y = test_data[0][:64], test_data[1][:64]
    suite = SUITES.build("autoattack", eps=EPS, attacks=["apgd-ce"])
    suite.attacks[0].kwargs["seed"] = 0
    r = evaluate(model, (x, y), suite, progress=False, checks=False)
    official = AutoAttack(model, attacks=["apgd-ce"], version="custom", eps=EPS, seed=0)
    official.verbose = False
    x_adv, _ = official.run_standard_evaluation(x, y, batch_size=64)
    with torch.no_grad():
        ref = 100.0 * int((model(x_adv).argmax(1) == y).sum()) / len(y)
    assert abs(r.robust_acc["AutoAttack-custom"] - ref) <= 100.0 * 2 / len(y)
    assert "autoattack_acc" not in r.to_json()  # only the standard version is RobustBench's


@pytest.mark.slow
def test_standard_autoattack_reports_autoattack_acc(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data[0][:32], test_data[1][:32]
    r = evaluate(model, (x, y), "autoattack", eps=EPS, progress=False, checks=False)
    j = r.to_json()
    assert j["autoattack_acc"] == f"{r.robust_acc['AutoAttack']:.2f}"
    assert r.robust_acc["AutoAttack"] <= r.clean_acc


def test_l2_suite_with_progress_bar(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data[0][:40], test_data[1][:40]
    r = evaluate(
        model,
        (x, y),
        "pgd20",
        eps=0.5,
        norm="L2",
        batch_size=16,
        progress=True,
        checks=SanityConfig(n=40),
    )
    assert r.norm == "L2" and r.eps == 0.5 and r.attacks[0]["attack"] == "pgd-l2"
    assert r.robust_acc["PGD-20"] <= r.clean_acc
    assert r.flags["threat_model"]["passed"] is True


def test_threat_violation() -> None:
    from robustlab.core.eval.checks import threat_violation

    x = torch.full((2, 1, 4, 4), 0.5)
    assert threat_violation(x, x + 0.1, 0.1, "Linf") == 0.0
    assert threat_violation(x, x + 0.2, 0.1, "Linf") == pytest.approx(0.1)
    assert threat_violation(x, x + 0.1, 0.4, "L2") == 0.0  # L2 norm of the delta: 0.4
    assert threat_violation(x, x + 0.1, 0.3, "L2") == pytest.approx(0.1, abs=1e-5)
    assert threat_violation(x, x + 0.6, None, "Linf") == pytest.approx(0.1)  # outside [0, 1]
    assert threat_violation(x, x[:1], 0.1, "Linf") == float("inf")


def test_suite_comparisons_only_within_a_budget(model: nn.Module, test_data: tuple) -> None:
    x, y = test_data[0][:100], test_data[1][:100]
    weak = {"eps": EPS, "alpha": 1e-4, "steps": 2, "random_start": False}
    strong_fgsm = AttackSpec("FGSM-big", "fgsm", {"eps": 3 * EPS})
    cfg = SanityConfig(n=64)
    # a weak PGD at a smaller eps than FGSM: not comparable, no failure
    mixed = Suite(
        "m",
        [strong_fgsm, AttackSpec("PGD-small", "pgd", {**weak, "eps": EPS / 2})],
        worst_case=False,
    )
    r = evaluate(model, (x, y), mixed, progress=False, checks=cfg)
    assert r.robust_acc["PGD-small"] > r.robust_acc["FGSM-big"]
    assert r.flags["iterative_ge_single_step"]["passed"] is True
    # the same weak PGD at FGSM's eps: the suite's own numbers fail the check
    same = Suite(
        "s",
        [AttackSpec("FGSM", "fgsm", {"eps": EPS}), AttackSpec("PGD", "pgd", weak)],
        worst_case=False,
    )
    r = evaluate(model, (x, y), same, progress=False, checks=cfg)
    assert "iterative_ge_single_step" in r.failed_checks
    assert "PGD" in r.flags["iterative_ge_single_step"]["detail"]


def test_suite_blackbox_flag() -> None:
    from robustlab.core.eval.checks import suite_blackbox_flag

    kinds = {"PGD": "iterative", "Square": "black-box"}
    assert suite_blackbox_flag(kinds, {"PGD": 40.0, "Square": 45.0}, False, 1.0)["passed"]
    assert not suite_blackbox_flag(kinds, {"PGD": 40.0, "Square": 30.0}, False, 1.0)["passed"]
    # worst case: cumulative accuracies; Square after PGD finding 10 more points = masking
    assert not suite_blackbox_flag(kinds, {"PGD": 40.0, "Square": 30.0}, True, 1.0)["passed"]
    assert suite_blackbox_flag(kinds, {"PGD": 40.0, "Square": 39.5}, True, 1.0)["passed"]
    assert suite_blackbox_flag({"PGD": "iterative"}, {"PGD": 1.0}, True, 1.0) is None
    assert AttackSpec("T", "pcloss/transfer").kind == "black-box"
