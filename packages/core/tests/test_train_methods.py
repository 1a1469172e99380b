"""Every built-in training method trains on real data (scikit-learn digits) and its loss falls;
method-specific properties (TRADES beta=0 == natural, AWP restores weights, Free-AT delta, losses)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from robustlab.core.losses import kl_div
from robustlab.core.train import METHODS, StepContext, TrainConfig, TrainContext, train

CORE_METHODS = [n for n in METHODS.names() if "/" not in n]
ADV_OPTS = {"eps": 0.1, "alpha": 0.05, "steps": 2}
OPTS = {
    "madry-at": ADV_OPTS,
    "trades": {**ADV_OPTS, "beta": 1.0},
    "mart": {**ADV_OPTS, "beta": 1.0},
    "awp-at": ADV_OPTS,
    "awp-trades": {**ADV_OPTS, "beta": 1.0, "warmup": 0},
    "lbgat": {**ADV_OPTS, "guide_model": "lenet5"},
    "fast-at": {"eps": 0.1},
    "free-at": {"eps": 0.1, "m": 2},
    "dropblock": {"block_size": 3},
}


def tiny(method: str, **kw: object) -> TrainConfig:
    base = dict(
        dataset="digits-28",
        model="lenet5",
        method=method,
        method_opts=OPTS.get(method, {}),
        epochs=3,
        n_train=128,
        n_test=64,
        batch_size=32,
        optimizer="adam",
        lr=3e-3,
        precision="fp32",
    )
    base.update(kw)
    return TrainConfig.from_dict(base)


def test_core_methods_registered() -> None:
    expected = {"natural", "madry-at", "fast-at", "free-at", "trades", "mart", "awp-trades", "awp-at",
                "lbgat", "dropout", "dropconnect", "dropblock", "msd", "disout", "label-smoothing",
                "focal", "label-relaxation", "ols"}  # fmt: skip
    assert expected <= set(CORE_METHODS)


@pytest.mark.parametrize("method", CORE_METHODS)
def test_method_loss_falls(method: str, tmp_path: Path) -> None:
    result = train(tiny(method), tmp_path / method, device="cpu", progress=False)
    losses = [h["train_loss"] for h in result.metrics["history"]]
    assert all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0], f"{method}: loss did not fall: {losses}"
    assert result.metrics["finished"] and (tmp_path / method / "model.safetensors").exists()


def test_trades_beta0_equals_natural(tmp_path: Path) -> None:
    nat = train(tiny("natural", epochs=2), tmp_path / "nat", device="cpu", progress=False)
    tr = train(
        tiny("trades", epochs=2, method_opts={"beta": 0.0}),
        tmp_path / "tr",
        device="cpu",
        progress=False,
    )
    for (k, a), b in zip(nat.model.state_dict().items(), tr.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert nat.metrics["clean_acc"] == tr.metrics["clean_acc"]


def _ctx(model: torch.nn.Module, epochs: int = 1) -> tuple[TrainContext, StepContext]:
    import contextlib

    tctx = TrainContext(
        None, torch.device("cpu"), 10, 1, (28, 28), epochs, 4, "fp32", contextlib.nullcontext
    )
    return tctx, StepContext(0, 0, 0, 0, 0.1, tctx)


def _batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    from robustlab.core.data import load

    data = load("digits-28", "train", n=n)
    return data.x, data.y


@pytest.mark.parametrize("name", ["awp-at", "awp-trades"])
def test_awp_perturbs_then_restores(name: str) -> None:
    from robustlab.core.models import build

    torch.manual_seed(0)
    model = build("lenet5", num_classes=10, in_channels=1)
    method = METHODS.build(name, **OPTS[name])
    tctx, sctx = _ctx(model)
    method.setup(model, tctx)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _batch()
    method.loss(model, x, y, sctx)
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert moved and all(k.endswith("weight") for k in moved)
    assert all(model.state_dict()[k].dim() > 1 for k in moved)  # conv/linear weights only
    for k in moved:  # relative size gamma * ||w||
        rel = (model.state_dict()[k] - before[k]).norm() / before[k].norm()
        assert rel == pytest.approx(method.gamma, rel=1e-3)
    method.after_step(model, sctx)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=1e-6, rtol=0)


def test_awp_warmup_skips_early_epochs() -> None:
    from robustlab.core.models import build

    model = build("lenet5", num_classes=10, in_channels=1)
    method = METHODS.build("awp-trades", **{**OPTS["awp-trades"], "warmup": 3})
    tctx, sctx = _ctx(model)
    method.setup(model, tctx)
    before = [p.clone() for p in model.parameters()]
    x, y = _batch()
    method.loss(model, x, y, sctx)  # epoch 0 -> 1-based 1 < 3: no perturbation
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_free_at_delta_stays_in_ball() -> None:
    from robustlab.core.models import build

    model = build("lenet5", num_classes=10, in_channels=1)
    method = METHODS.build("free-at", eps=0.1, m=3)
    assert method.replays == 3
    tctx, sctx = _ctx(model)
    method.setup(model, tctx)
    x, y = _batch()
    for _ in range(3):
        out = method.loss(model, x, y, sctx)
        out.loss.backward()
        method.after_step(model, sctx)
    delta = method.state_dict()["delta"]
    assert delta.abs().max() <= 0.1 + 1e-7 and delta.abs().max() > 0.05
    assert ((x + delta) >= -1e-7).all() and ((x + delta) <= 1 + 1e-7).all()


def test_fast_at_alpha_default() -> None:
    from robustlab.core.models import build

    model = build("lenet5", num_classes=10, in_channels=1)
    method = METHODS.build("fast-at", eps=0.2)
    method.setup(model, _ctx(model)[0])
    assert method.alpha == pytest.approx(0.25)
    assert (
        METHODS.build("trades").bn_mode == "eval" and METHODS.build("madry-at").bn_mode == "train"
    )
    assert METHODS.build("lbgat").bn_mode == "eval" and METHODS.build("awp-at").bn_mode == "train"


def test_kl_div_batchmean_matches_torch() -> None:
    torch.manual_seed(0)
    p, q = torch.randn(5, 7), torch.randn(5, 7)
    ref = F.kl_div(F.log_softmax(q, 1), F.softmax(p, 1), reduction="batchmean")
    assert kl_div(p, q) == pytest.approx(float(ref), rel=1e-5)


def test_loss_level_regularisers() -> None:
    class Fixed(torch.nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits

    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 1.0, 0.5]])
    y = torch.tensor([0, 2])
    model, x = Fixed(logits), torch.zeros(2, 1, 1, 1)
    sctx = _ctx(model)[1]
    ce = F.cross_entropy(logits, y)
    assert METHODS.build("focal", gamma=0.0).loss(model, x, y, sctx).loss == pytest.approx(
        float(ce)
    )
    p = F.softmax(logits, 1)
    fl = -((1 - p[[0, 1], y]) ** 2 * torch.log(p[[0, 1], y])).mean()
    assert METHODS.build("focal").loss(model, x, y, sctx).loss == pytest.approx(float(fl))
    ls = METHODS.build("label-smoothing").loss(model, x, y, sctx).loss
    assert ls == pytest.approx(float(F.cross_entropy(logits, y, label_smoothing=0.1)))
    # label relaxation: example 0 is confident (p_y > 0.9) -> 0; example 1 -> KL(q || p)
    lr = METHODS.build("label-relaxation").loss(model, x, y, sctx).loss
    q = torch.tensor([p[1, 0] / (1 - p[1, 2]) * 0.1, p[1, 1] / (1 - p[1, 2]) * 0.1, 0.9])
    kl1 = (q * (q.log() - p[1].log())).sum()
    assert lr == pytest.approx(float(kl1) / 2, rel=1e-5)


def test_ols_soft_labels_update() -> None:
    method = METHODS.build("ols")
    model = torch.nn.Identity()
    tctx, sctx = _ctx(model)
    tctx.num_classes = 3
    method.setup(model, tctx)
    ols = method.objective_fn("objective")
    assert torch.allclose(ols.soft.sum(1), torch.ones(3))
    logits = torch.tensor([[3.0, 0.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 0, 1])  # third example is wrong: not accumulated
    out = method.loss(model, logits, y, sctx)
    # epoch 1: target = 0.5 onehot + 0.5 [0.9, 0.05, 0.05] (row of the label)
    t = torch.tensor([[0.95, 0.025, 0.025], [0.95, 0.025, 0.025], [0.025, 0.95, 0.025]])
    expected = -(t * F.log_softmax(logits, 1)).sum(1).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    method.on_epoch_end(0, tctx, model)
    p = F.softmax(logits, 1)
    torch.testing.assert_close(ols.soft[0], (p[0] + p[1]) / 2)
    assert ols.soft[1, 1] == pytest.approx(0.9)  # class 1 had no correct prediction: unchanged
    state = method.state_dict()
    assert set(state) == {"objective.objective.soft", "objective.objective.sums",
                          "objective.objective.counts"}  # fmt: skip
    other = METHODS.build("ols")
    other.setup(model, tctx)
    other.load_state_dict(state)
    torch.testing.assert_close(other.objective_fn("objective").soft, ols.soft)


def test_msd_uses_k_samples(tmp_path: Path) -> None:
    res = train(
        tiny("msd", epochs=1, method_opts={"k": 3}), tmp_path / "m", device="cpu", progress=False
    )
    head = res.model.head
    assert head.k == 3 and head.forward_samples(torch.randn(2, head.feature_dim)).shape == (
        3,
        2,
        10,
    )


@pytest.mark.slow
def test_adversarial_training_beats_natural_under_pgd(tmp_path: Path) -> None:
    from robustlab.core.attacks import ATTACKS
    from robustlab.core.data import load
    from robustlab.core.train.evaluate import accuracy

    test = load("fashion-mnist", "test", n=500)
    pgd = ATTACKS.build("pgd", eps=0.1, alpha=0.01, steps=20, seed=0)
    adv = {"eps": 0.1, "alpha": 0.025, "steps": 10}
    robust = {}
    for method, opts in [("natural", {}), ("madry-at", adv), ("trades", adv)]:
        cfg = TrainConfig(dataset="fashion-mnist", model="lenet5", method=method, method_opts=opts, epochs=2,
                          n_train=10000, n_test=500, optimizer="adam", lr=1e-3)  # fmt: skip
        model = train(cfg, tmp_path / method, device="cpu", progress=False).model
        robust[method] = accuracy(model, test.x, test.y, device=torch.device("cpu"), attack=pgd)
    assert robust["madry-at"] > robust["natural"] + 10, robust
    assert robust["trades"] > robust["natural"] + 10, robust
