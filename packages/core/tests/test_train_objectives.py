"""Objective hooks of the core training methods: defaults reproduce the hard-coded CE/KL losses
bit for bit; custom / registered / unknown objectives; run dependencies (needs) and indices."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.losses import OBJECTIVES, Objective, cross_entropy
from robustlab.core.train import METHODS, StepContext, TrainConfig, TrainContext, load_need, train

ADV = {"eps": 0.1, "alpha": 0.05, "steps": 2}


class BNNet(nn.Module):
    """conv-BN-ReLU-linear on 1x8x8 inputs, 5 classes."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def _ctx(index: torch.Tensor | None = None) -> StepContext:
    tctx = TrainContext(
        None, torch.device("cpu"), 5, 1, (8, 8), 1, 1, "fp32", contextlib.nullcontext
    )
    return StepContext(0, 0, 0, 0, 0.1, tctx, index)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 1, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g)


def _step(name: str, **opts: Any) -> tuple[torch.Tensor, list[torch.Tensor], Any]:
    model, (x, y) = BNNet().train(), _batch()
    method = METHODS.build(name, **opts)
    method.setup(model, _ctx().train)
    torch.manual_seed(5)
    out = method.loss(model, x, y, _ctx())
    out.loss.backward()
    return out.loss.detach(), [p.grad.clone() for p in model.parameters()], method


def _explicit_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    log_p, log_q = F.log_softmax(p_logits, 1), F.log_softmax(q_logits, 1)
    return (log_p.exp() * (log_p - log_q)).sum(1).mean()


def _frozen(name: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The step as the methods computed it before objectives existed (plain F / explicit KL)."""
    model, (x, y) = BNNet().train(), _batch()
    torch.manual_seed(5)
    if name == "natural":
        loss = F.cross_entropy(model(x), y)
    elif name == "madry-at":
        x_adv = ATTACKS.build("pgd", eps=0.1, alpha=0.05, steps=2)(model, x, y)
        loss = F.cross_entropy(model(x_adv), y)
    else:  # trades, beta 1: KL attack in eval mode, then clean / adversarial / clean forwards
        model.eval()
        pgd = ATTACKS.build("pgd", eps=0.1, alpha=0.05, steps=2, loss="kl", init="normal",
                            init_std=0.001)  # fmt: skip
        x_adv = pgd(model, x, y)
        model.train()
        nat = model(x)
        adv = model(x_adv)
        loss = F.cross_entropy(nat, y) + 1.0 * _explicit_kl(model(x), adv)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(
    ("name", "opts"),
    [("natural", {}), ("madry-at", ADV), ("trades", {**ADV, "beta": 1.0})],
)
def test_default_objectives_are_bit_identical_to_the_hard_coded_losses(
    name: str, opts: dict
) -> None:
    loss, grads, _ = _step(name, **opts)
    ref_loss, ref_grads = _frozen(name)
    assert torch.equal(loss, ref_loss)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))


def test_custom_callable_and_registered_objectives() -> None:
    base, _, _ = _step("natural")

    def doubled(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 2 * F.cross_entropy(logits, y, reduction="none")

    twice, _, _ = _step("natural", objective=doubled)
    assert twice.item() == pytest.approx(2 * base.item(), rel=1e-6)
    summed, _, _ = _step("natural", reduction="sum")
    assert summed.item() == pytest.approx(8 * base.item(), rel=1e-6)
    focal0, _, _ = _step("natural", objective={"name": "focal", "gamma": 0.0})
    assert focal0.item() == pytest.approx(base.item(), rel=1e-6)
    # a TRADES variant: natural term CE, robust term by name, attack by callable
    calls: list[str] = []

    def attack_obj(
        logits: torch.Tensor, y: torch.Tensor, logits_clean: torch.Tensor
    ) -> torch.Tensor:
        calls.append("attack")
        return (logits - logits_clean).pow(2).sum(1)

    _, _, m = _step("trades", **ADV, attack_objective=attack_obj, robust_objective="kl")
    assert calls and m.options()["attack_objective"].startswith("<function")


def test_unknown_objective_and_reduction_are_clear_errors() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown objective 'c3'.*Valid objective names"):
        METHODS.build("madry-at", objective="c3")
    with pytest.raises(ConfigError, match="reduction"):
        METHODS.build("trades", reduction="avg")
    with pytest.raises(ConfigError, match="valid options"):
        METHODS.build("free-at", attack_objective="ce")  # Free-AT ascends its own objective


def test_trades_bn_order_controls_which_forwards_update_batchnorm() -> None:
    seen: dict[str, list[bool]] = {}
    for order in ("nat-adv", "adv-nat", "nat", "adv"):
        model, (x, y) = BNNet().train(), _batch()
        method = METHODS.build("trades", **ADV, beta=1.0, bn_order=order)
        method.setup(model, _ctx().train)
        x_adv = method.adversarial_batch(model, x, y)
        flags: list[tuple[bool, bool]] = []
        clean_conv = model.conv(x)

        def hook(m: nn.Module, i: tuple[torch.Tensor], flags=flags, c=clean_conv) -> None:  # type: ignore[no-untyped-def]
            flags.append((m.training, bool(torch.equal(i[0], c))))

        model.bn.register_forward_pre_hook(hook)
        method.trades_loss(model, x, x_adv, y)
        seen[order] = [t for t, _ in flags]
        assert [c for _, c in flags] == ([False, True, True] if order == "adv-nat" else
                                         [True, False, True]), order  # fmt: skip
    assert seen == {"nat-adv": [True, True, True], "adv-nat": [True, True, True],
                    "nat": [True, False, True], "adv": [False, True, False]}  # fmt: skip
    with pytest.raises(ConfigError, match="bn_order"):
        METHODS.build("trades", bn_order="both")


def test_lbgat_gives_the_attack_the_guide_logits_and_takes_a_custom_objective() -> None:
    got: dict[str, Any] = {}

    def cag(logits: torch.Tensor, y: torch.Tensor, **ctx: Any) -> torch.Tensor:
        got["ref"] = ctx.get("logits_ref")
        return F.kl_div(F.log_softmax(logits, 1), F.softmax(ctx["logits_ref"], 1),
                        reduction="none").sum(1)  # fmt: skip

    def d2r(guide_clean, target_adv, target_clean, y, **ctx):  # type: ignore[no-untyped-def]
        got["args"] = (guide_clean.shape, target_adv.shape, target_clean.shape, ctx["x"].shape)
        return cross_entropy(guide_clean, y) + F.mse_loss(target_adv, guide_clean)

    (x, y), model = _batch(), _Resize(BNNet()).train()
    method = METHODS.build("lbgat", **ADV, guide_model="lenet5", attack_objective=cag,
                           attack_guide_logits=True, objective=d2r)  # fmt: skip
    method.setup(model, _ctx().train)
    xs = F.interpolate(x, size=28)
    out = method.loss(model, xs, y, _ctx())
    out.loss.backward()
    assert got["ref"] is not None and got["ref"].shape == (8, 5)
    with torch.no_grad():
        torch.testing.assert_close(got["ref"], method.guide.eval()(xs))  # eval-mode guide logits
    assert got["args"][0] == (8, 5) and got["args"][3] == xs.shape
    assert set(method.trainable_modules()) == {"guide"}
    assert all(p.grad is not None for p in method.guide.parameters())


class _Resize(nn.Module):
    """The 8x8 BNNet on 28x28 inputs (the LeNet guide needs 28x28)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(F.adaptive_avg_pool2d(x, 8))


class SoftTeacherCE(Objective):
    """Toy LTD objective: CE against softmax(teacher(x) / tau), soft labels cached by index."""

    name = "test/soft-teacher"

    def __init__(self, tau: float = 2.0) -> None:
        self.tau = tau
        self.seen: list[int] = []

    def setup(self, model: nn.Module, ctx: Any) -> None:
        self.teacher = load_need(ctx, "teacher")
        self.cache = torch.full((ctx.train_size, ctx.num_classes), -1.0)

    def modules(self) -> dict[str, nn.Module]:
        return {"teacher": self.teacher}

    def __call__(self, logits: torch.Tensor, y: torch.Tensor, **ctx: Any) -> torch.Tensor:
        index = ctx["index"]
        self.seen += index.tolist()
        todo = self.cache[index, 0] < 0
        if todo.any():
            with torch.no_grad():
                soft = F.softmax(self.teacher(ctx["x"][todo]) / self.tau, dim=1)
            self.cache[index[todo]] = soft
        return cross_entropy(logits, self.cache[index], "none")

    def state_dict(self) -> dict[str, Any]:
        return {"cache": self.cache}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.cache = state["cache"].clone()


def _cfg(**kw: Any) -> TrainConfig:
    base = dict(dataset="digits-28", model="lenet5", epochs=1, n_train=64, n_test=32,
                batch_size=16, optimizer="adam", lr=1e-3, precision="fp32")  # fmt: skip
    return TrainConfig.from_dict({**base, **kw})


def test_needs_are_checked_and_a_stateful_teacher_objective_loads_one(tmp_path: Path) -> None:
    missing = _cfg(needs={"teacher": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match=r"needs\['teacher'\].*does not exist"):
        train(missing, tmp_path / "student0", device="cpu", progress=False)
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(ConfigError, match="not a finished run"):
        train(_cfg(needs={"teacher": str(tmp_path / "unfinished")}), tmp_path / "s1",
              device="cpu", progress=False)  # fmt: skip
    teacher = train(_cfg(), tmp_path / "teacher", device="cpu", progress=False)
    if SoftTeacherCE.name not in OBJECTIVES:
        OBJECTIVES.register(SoftTeacherCE.name, SoftTeacherCE)
    cfg = _cfg(epochs=2, method_opts={"objective": "test/soft-teacher"},
               needs={"teacher": str(tmp_path / "teacher")})  # fmt: skip
    import robustlab.core.train.engine as engine

    built: list[Any] = []
    orig = engine.METHODS.build

    def spy(name: str, **opts: Any) -> Any:
        built.append(orig(name, **opts))
        return built[-1]

    engine.METHODS.build = spy  # type: ignore[method-assign]
    try:
        result = train(cfg, tmp_path / "student", device="cpu", progress=False)
    finally:
        engine.METHODS.build = orig  # type: ignore[method-assign]
    obj = built[0].objective_fn("objective")
    assert sorted(obj.seen) == sorted(list(range(64)) * 2)  # every index once per epoch
    assert not obj.teacher.training
    assert all(not p.requires_grad for p in obj.teacher.parameters())
    for (k, a), b in zip(teacher.model.state_dict().items(), obj.teacher.state_dict().values()):
        assert torch.equal(a, b.cpu()), k
    assert (obj.cache >= 0).all() and torch.allclose(obj.cache.sum(1), torch.ones(64))
    assert result.metrics["finished"] and result.metrics["config"]["needs"]
    with pytest.raises(ConfigError, match="declares no need 'guide'"):
        load_need(_ctx().train, "guide")
