"""Phase 2: conformance (core.testing contracts), presets, objectives by hand, smoke reproduction."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

from robustlab.core.losses import OBJECTIVES, get_objective
from robustlab.core.models import build, load_model, save_checkpoint
from robustlab.core.testing import MethodCase, MethodContract, PaperContract
from robustlab.isce.defaults import PROFILES
from robustlab.isce.paper import PAPER
from robustlab.isce.tables import eps_sweep, table_eps_l2

LENET = {"model": "isce/lenet5"}


class TestISCEPaper(PaperContract):
    paper = PAPER


class TestMethods(MethodContract):
    @pytest.fixture(
        params=[
            MethodCase("isce/isce", {"normalize": "features"}, LENET),
            MethodCase("isce/isce", {"normalize": "logits", "s": 1.2}, LENET),
            MethodCase("isce/sce", {}, LENET),
            MethodCase("isce/center", {}, LENET),
            MethodCase("isce/lgm", {}, LENET),
            MethodCase("isce/mmc", {}, LENET),
            MethodCase("isce/arcface", {}, LENET),
            MethodCase("isce/label-smoothing", {}, LENET),
            MethodCase("isce/random", {}, LENET),
            MethodCase("isce/at", {"eps": 0.5, "alpha": 0.125, "steps": 2}, LENET),
        ],
        ids=lambda c: f"{c.name}{sorted(c.opts.items())}",
    )
    def method_case(self, request: pytest.FixtureRequest) -> MethodCase:
        return request.param


def test_isce_objective_by_hand() -> None:
    """eq. 4 on logits (1, 2, 0), y = 0, s = 2, m = 0.5: f_y -> 2.5; -log(e^2.5 / (e^2.5 + e^2 + 1))."""
    fn = get_objective({"name": "isce/isce", "s": 2.0, "m": 0.5})
    z = torch.tensor([[1.0, 2.0, 0.0]])
    want = -(2.5 - math.log(math.exp(2.5) + math.exp(2.0) + 1.0))
    assert fn(z, torch.tensor([0])).item() == pytest.approx(want, abs=1e-6)
    assert "isce/isce" in OBJECTIVES.names()


def test_method_heads_are_rebuilt_by_load_model(tmp_path: Path) -> None:
    model = build("isce/lenet5", 10, 1, classifier="isce", classifier_opts={"normalize": "logits"})
    path = save_checkpoint(tmp_path / "m", model)
    loaded, _ = load_model(path)
    x = torch.rand(4, 1, 28, 28)
    model.eval()
    loaded.eval()
    assert torch.equal(model(x), loaded(x))
    assert loaded(x).norm(dim=1).sub(1).abs().max() < 1e-5  # unit-norm logits


def test_random_defence_only_at_test_time() -> None:
    torch.manual_seed(0)
    model = build("isce/lenet5", 10, 1, defence="random")
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model(x), model(x))  # training mode: identity
    model.eval()
    assert not torch.equal(model(x), model(x))  # eval mode: randomised


def test_presets_visible_and_reading_11() -> None:
    runs = PAPER.runs("fmnist")
    at = runs["fmnist-at"].train[0]
    assert at.method == "isce/at" and at.method_opts["eps"] == pytest.approx(0.56)
    assert at.optimizer == "adam" and at.lr == 1e-3
    assert table_eps_l2("CIFAR-10", 0.04) == pytest.approx(0.04 * math.sqrt(3072), abs=1e-4)
    assert set(PAPER.runs("quick")) == {
        "fmnist-sce",
        "fmnist-isce",
        "fmnist-isce-logits",
        "fmnist-mmc",
        "fmnist-label-smoothing",
    }


def test_eps_sweep_reaches_zero_on_an_untrained_model() -> None:
    torch.manual_seed(0)
    model = build("lenet5", 10, 1).eval()
    x = torch.rand(8, 1, 28, 28)
    y = model(x).argmax(1)
    out = eps_sweep(model, x, y, eps=(0.0001, 8.0), steps=5)
    assert out["sweep/PGD-5 eps=0.0001"] == 100.0
    assert out["sweep/PGD-5 eps=8"] == 0.0 and out["sweep/eps_to_zero"] == 8.0


@pytest.mark.slow
def test_smoke_reproduction(tmp_path: Path) -> None:
    """Quick profile on a slice: 2 models, 1 epoch, 256 training and 16 test images (~45 s here,
    AutoAttack included; slow-marked, the fast spec-level checks are the contract tests above)."""
    from robustlab.core.report import render_report
    from robustlab.core.repro import reproduce

    quick = PROFILES["quick"].replace(
        epochs=1, n_train=256, n_eval=16, models=("SCE", "I-SCE"), sweep_eps=(8.0,)
    )

    class Smoke(type(PAPER)):  # type: ignore[misc]
        profiles = {**PAPER.profiles, "quick": quick}  # noqa: RUF012

    t0 = time.perf_counter()
    report = reproduce(
        Smoke(),
        profile="quick",
        device="cpu",
        runs_dir=tmp_path,
        progress=False,
        render=render_report,
    )
    assert report.runs_done() == 2
    assert time.perf_counter() - t0 < 60
