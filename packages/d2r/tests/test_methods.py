"""Phase 2 methods: d2r/d2r and d2r/d2r-cag on core LBGAT (conformance, equivalences, options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from robustlab.core.errors import ConfigError
from robustlab.core.losses import kl_div
from robustlab.core.testing import MethodCase, MethodContract
from robustlab.core.train import METHODS, train
from robustlab.d2r import CAGAttack, D2RLoss
from robustlab.d2r.methods import D2R_OBJECTIVE, D2RCAG, d2r_objective

SMALL = {"eps": 0.1, "alpha": 0.05, "steps": 2, "guide_model": "lenet5"}


class TestD2RMethods(MethodContract):
    @pytest.fixture(
        params=[
            MethodCase("d2r/d2r", dict(SMALL)),
            MethodCase("d2r/d2r-cag", dict(SMALL)),
            MethodCase(
                "d2r/d2r", {**SMALL, "objective": d2r_objective(1.0, 0.0, 0.1, "batchmean")}
            ),
        ],
        ids=["d2r", "d2r-cag", "d2r-batchmean"],
    )
    def method_case(self, request: pytest.FixtureRequest) -> MethodCase:
        return request.param


def test_defaults_are_the_papers() -> None:
    m = METHODS.build("d2r/d2r-cag")
    assert (m.eps, m.alpha, m.steps) == (0.031, 0.007, 10)
    assert m.objective == D2R_OBJECTIVE and m.attack_objective == "d2r/cag-kl"
    assert m.attack_guide_logits is True and m.bn_mode == "eval"
    plain = METHODS.build("d2r/d2r")
    assert plain.attack_objective == "kl" and plain.attack_guide_logits is False
    loss = plain.objective_fn("objective")
    assert isinstance(loss, D2RLoss) and (loss.alpha, loss.beta, loss.lam) == (30.0, 20.0, 1.0)


def test_lbgat_only_options_are_rejected() -> None:
    with pytest.raises(ConfigError, match="beta"):
        METHODS.build("d2r/d2r", beta=20.0)  # D2R's beta belongs in the objective dict
    with pytest.raises(ConfigError, match="method 'lbgat'"):
        METHODS.build("d2r/d2r-cag", objective="lbgat")
    with pytest.raises(ConfigError, match="alpha must be"):
        METHODS.build("d2r/d2r", objective=d2r_objective(-1.0))


def _cfg(method: str, opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "dataset": "digits-28",
        "model": "lenet5",
        "method": method,
        "method_opts": opts,
        "epochs": 1,
        "n_train": 64,
        "n_test": 16,
        "batch_size": 32,
        "lr": 0.05,
        "precision": "fp32",
        "seed": 5,
    }


def test_alpha_beta_zero_trains_exactly_like_lbgat0(tmp_path: Path) -> None:
    """alpha = beta = 0, lam = 1: eq. 2 = CE(g(x)) + MSE = LBGAT's eq. 7 with beta 0, so the two
    methods produce bit-identical target and guide weights (same attack, same step)."""
    d2r = train(
        _cfg("d2r/d2r", {**SMALL, "objective": d2r_objective(0.0, 0.0, 1.0)}),
        tmp_path / "d2r",
        device="cpu",
        progress=False,
    )
    lbgat = train(
        _cfg("lbgat", {**SMALL, "beta": 0.0}), tmp_path / "lbgat", device="cpu", progress=False
    )
    for (k, a), (_, b) in zip(
        d2r.model.state_dict().items(), lbgat.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    init = train(
        _cfg("d2r/d2r", {**SMALL, "objective": d2r_objective(30.0, 20.0, 1.0)}),
        tmp_path / "full",
        device="cpu",
        progress=False,
    )
    assert any(
        not torch.equal(a, b)
        for a, b in zip(init.model.state_dict().values(), lbgat.model.state_dict().values())
    )


def test_cag_training_examples_equal_cag_attack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The x' d2r/d2r-cag trains on is CAGAttack's (eq. 4) from the same RNG state, and it
    differs from the plain TRADES attack's (the guide enters the objective)."""
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    original = D2RCAG.generate

    def spy(self: D2RCAG, attack: Any, model: Any, x: Any, y: Any, **ctx: Any) -> Any:
        state = torch.get_rng_state()
        out = original(self, attack, model, x, y, **ctx)
        after = torch.get_rng_state()
        torch.set_rng_state(state)
        ref = CAGAttack(eps=SMALL["eps"], alpha=SMALL["alpha"], steps=SMALL["steps"])(
            model, x, y, guide=self.guide
        )
        torch.set_rng_state(state)
        trades = attack.__class__(
            eps=SMALL["eps"],
            alpha=SMALL["alpha"],
            steps=SMALL["steps"],
            loss="kl",
            init="normal",
            init_std=0.001,
        )
        was = model.training
        model.eval()
        plain = trades(model, x, y)
        model.train(was)
        torch.set_rng_state(after)
        seen.append((out, ref, plain))
        return out

    monkeypatch.setattr(D2RCAG, "generate", spy)
    train(_cfg("d2r/d2r-cag", dict(SMALL)), tmp_path / "cag", device="cpu", progress=False)
    assert len(seen) == 2
    for out, ref, plain in seen:
        assert torch.equal(out, ref)
        assert (out - plain).abs().max() > 0


def test_cag_kl_direction_matches_the_spec() -> None:
    """The CAG objective is KL(p_g(x) || p_t(x')) per example (spec), not the reverse."""
    from robustlab.d2r import cag_kl_loss

    g = torch.tensor([[2.0, 0.0, -1.0]])
    t = torch.tensor([[0.0, 1.0, 0.5]])
    got = cag_kl_loss(t, torch.tensor([0]), logits_ref=g)
    assert torch.allclose(got, kl_div(g, t, "none"))
    assert not torch.allclose(got, kl_div(t, g, "none"))
