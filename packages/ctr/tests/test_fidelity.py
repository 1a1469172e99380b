"""Issue 12 (ctr): each cell measures what the paper measures. Every test here fails on the
code before the fix it names."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.errors import ConfigError
from robustlab.core.eval import AttackSpec
from robustlab.core.models import build
from robustlab.core.repro import ANALYSES, RunSpec, check_paper
from robustlab.core.repro.autoattack import aa_metric
from robustlab.core.repro.execute import merge_metrics, run_analyses
from robustlab.core.train import METHODS, TrainConfig
from robustlab.ctr import defaults, tables
from robustlab.ctr.paper import PAPER

# ------------------------------------------------------------------ 1. MDL's sub-networks


def _mdl_model(method: str, arch: str, **opts: Any) -> nn.Module:
    overrides = METHODS.build(method, **opts).model_overrides()
    in_ch = 1 if arch == "mnistnet" else 3
    return build(arch, 10, in_ch, **overrides)


def _rows_seen_by_first_linear(model: nn.Module, x: torch.Tensor) -> list[int]:
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    seen: list[int] = []
    first.register_forward_hook(lambda _m, inp, _out: seen.append(int(inp[0].shape[0])))
    model.train()
    model.head.forward_samples(model.features(x))
    return seen


@pytest.mark.parametrize("method,k", [("ctr/mdl", 4), ("ctr/mdl-pcc", 4), ("ctr/msd", 8)])
def test_mdl_samples_run_through_every_fc_layer_of_mnistnet(method: str, k: int) -> None:
    model = _mdl_model(method, "mnistnet")
    x = torch.rand(3, 1, 28, 28)
    assert model.features(x).shape == (3, 64 * 4 * 4)  # ends at the last conv/pooling output
    assert _rows_seen_by_first_linear(model, x) == [k * 3]  # FC1 sees K x B rows
    fc_rows: list[int] = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda _m, inp, _o: fc_rows.append(int(inp[0].shape[0])))
    out = model.head.forward_samples(model.features(x))
    assert out.shape == (k, 3, 10)
    assert fc_rows == [k * 3] * 3  # FC1, FC2 and the output layer
    assert not torch.allclose(out[0], out[1])  # independent dropout samples


def test_mdl_on_vgg16_drops_the_last_pooling_output() -> None:
    model = _mdl_model("ctr/mdl", "vgg16")
    x = torch.rand(2, 3, 32, 32)
    assert model.feature_dim == 512 and model.features(x).shape == (2, 512)
    assert _rows_seen_by_first_linear(model, x) == [4 * 2]
    # VGG's own dropout before its hidden FC layer is the per-sample drop itself
    assert not any(isinstance(m, nn.Dropout) for m in model.head.body.modules())


def test_resnet_mdl_is_unchanged_and_baselines_keep_their_head() -> None:
    resnet = _mdl_model("ctr/mdl", "resnet18")
    assert resnet.head.body is None and resnet.feature_dim == 512
    dropout = build("mnistnet", 10, 1, **METHODS.build("dropout").model_overrides())
    assert dropout.head.body is None and dropout.feature_dim == 200


def test_mdl_checkpoint_rebuilds_from_its_build_config() -> None:
    model = _mdl_model("ctr/mdl", "mnistnet")
    cfg = {k: v for k, v in model.build_config.items() if k != "name"}
    again = build(model.build_config["name"], **cfg)
    assert again.load_state_dict(model.state_dict()) is not None
    assert "head.body.fc1.weight" in model.state_dict()


def test_msd_equals_mdl_without_the_orthogonal_term() -> None:
    torch.manual_seed(0)
    model = _mdl_model("ctr/msd", "mnistnet")
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    method = METHODS.build("ctr/msd")
    assert method.rho == 0.0 and method.K == 8
    torch.manual_seed(1)
    loss = method.loss(model, x, y, None).loss  # type: ignore[arg-type]
    torch.manual_seed(1)
    samples = model.head.forward_samples(model.features(x))
    expected = nn.functional.cross_entropy(samples.reshape(-1, 10), y.repeat(8))
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_msd_row_uses_the_mdl_structure() -> None:
    assert tables.ROW_METHODS["MSD [13]"][0] == "ctr/msd"


# ------------------------------------------------------------------ 2. metric collisions


def test_colliding_metric_names_are_an_error_naming_both_sources() -> None:
    metrics = {"clean_acc": 91.0}
    sources = {"clean_acc": "the evaluation suite"}
    with pytest.raises(ConfigError, match=r"the evaluation suite.*ctr/attack-accuracy"):
        merge_metrics(metrics, {"clean_acc": 90.0}, "analysis 'ctr/attack-accuracy'", sources)
    assert metrics["clean_acc"] == 91.0


def test_run_analyses_refuses_an_analysis_overwriting_clean_acc() -> None:
    name = "test-fidelity/clean"
    if name not in ANALYSES:
        ANALYSES.register(name, lambda model, x, y: {"clean_acc": 1.0})
    spec = RunSpec(
        "r",
        (TrainConfig(dataset="fashion-mnist", model="lenet5"),),
        None,
        4,
        analyses=((name, {}),),
    )
    model = nn.Linear(2, 2)
    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ConfigError, match="clean_acc"):
        run_analyses(spec, model, x, y, {"clean_acc": 50.0}, {"clean_acc": "the evaluation suite"})
    assert run_analyses(spec, model, x, y) == {"clean_acc": 1.0}


@pytest.mark.parametrize("profile", ["quick", "fmnist", "paper"])
def test_every_ctr_analysis_is_namespaced(profile: str) -> None:
    for spec in PAPER.runs(profile).values():
        prefixes = [kw["prefix"] for n, kw in spec.analyses if n == "ctr/attack-accuracy"]
        assert all(prefixes) and len(set(prefixes)) == len(prefixes), spec.id


def test_tables_5_6_read_autoattack_from_core_and_square_namespaced() -> None:
    specs, runs = check_paper(PAPER, "paper")
    cells = [c for t in specs if t.id in ("5", "6") for c in t.cells]
    aa = {c.metric for c in cells if c.column.endswith("/AA")}
    assert aa == {aa_metric(8 / 255, "Linf")}
    natural = {c.metric for c in cells if c.column.endswith("/Natural")}
    assert natural == {"clean_acc"}
    assert all(s.autoattack_n == 1000 for r, s in runs.items() if r.startswith("at-"))


# ------------------------------------------------------------------ 3. KL attacks start off x


def _kl_fgsm(with_start: bool) -> dict[str, Any]:
    p = defaults.PROFILES["fmnist"]
    spec = next(a for a in tables.t7_attacks(p, 0.1) if a["label"] == "FGSM/KL")
    if not with_start:
        spec = {**spec, "kwargs": {"eps": 0.1, "loss": "kl"}}
    return spec


def test_kl_attacks_start_from_a_normal_perturbation() -> None:
    p = defaults.PROFILES["fmnist"]
    for a in tables.t7_attacks(p, 0.1):
        if a["label"].endswith(("/KL", "/SKL")) and not a["label"].startswith("APGD"):
            kw = a["kwargs"]
            assert kw["random_start"] and kw["init"] == "normal" and kw["init_std"] == 0.001
    fgsm = AttackSpec.from_dict(_kl_fgsm(True))
    assert fgsm.kwargs["alpha"] == pytest.approx(0.1)  # one step of eps, as plain FGSM


def test_fgsm_kl_follows_a_gradient_only_with_the_trades_start() -> None:
    from robustlab.core.attacks import LOSSES

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 10)).eval()
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 10, (8,))
    clean = model(x).detach()

    def grad_at(x0: torch.Tensor) -> torch.Tensor:
        xa = x0.clone().requires_grad_(True)
        LOSSES.get("kl")(model(xa), y, logits_clean=clean).sum().backward()
        assert xa.grad is not None
        return xa.grad.abs().flatten(1).amax(1)

    # at x' = x the KL objective's gradient is 0 up to rounding: FGSM's sign step follows noise
    assert float(grad_at(x).max()) < 1e-6
    spec = AttackSpec.from_dict(_kl_fgsm(True))
    torch.manual_seed(1)
    start = x + spec.kwargs["init_std"] * torch.randn_like(x)
    assert bool((grad_at(start) > 1e-5).all())
    x_adv = ATTACKS.build(spec.name, seed=0, **spec.kwargs)(model, x, y)
    kl = LOSSES.get("kl")(model(x_adv), y, logits_clean=clean)
    noise = (x + 0.1 * torch.randn_like(x).sign()).clamp(0, 1)
    assert float(kl.mean()) > float(LOSSES.get("kl")(model(noise), y, logits_clean=clean).mean())


# ------------------------------------------------------------------ 4. the quick budget


def test_quick_profile_trains_on_all_60k_images() -> None:
    q = defaults.PROFILES["quick"]
    assert q.nt_n_train is None and q.nt_epochs >= 2
    assert "stalls near 80" not in q.description
    for rid, spec in PAPER.runs("quick").items():
        if rid.startswith("nt-"):
            assert spec.train[0].n_train is None and spec.train[0].epochs == q.nt_epochs


# ------------------------------------------------------------------ 5. TRADES, DropBlock/Disout


@pytest.mark.parametrize("profile", ["fmnist", "paper"])
def test_trades_trains_with_ten_steps_of_trades_ratio(profile: str) -> None:
    p = defaults.PROFILES[profile]
    trades = [s for s in PAPER.runs(profile).values() if s.train[-1].method.endswith("trades")]
    assert trades
    for spec in trades:
        opts = spec.train[-1].method_opts
        assert opts["steps"] == 10
        assert opts["alpha"] == pytest.approx(0.007 * p.at_eps / 0.031, rel=0.02)
    if profile == "paper":
        assert trades[0].train[-1].method_opts["alpha"] == 0.007


@pytest.mark.parametrize("arch,shape", [("mnistnet", (1, 1, 28, 28)), ("vgg16", (1, 3, 32, 32))])
def test_map_side_is_the_drop_stage_output(arch: str, shape: tuple[int, ...]) -> None:
    with torch.device("meta"):
        model = build(arch, 10, shape[1])
        stage = dict(model.named_modules())[model.map_drop_stage]
        seen: list[tuple[int, ...]] = []
        stage.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
        model(torch.empty(shape))
    assert seen[0][-1] == seen[0][-2] == tables.MAP_SIDE[arch]


@pytest.mark.parametrize("profile", ["fmnist", "paper"])
def test_dropblock_and_disout_blocks_fit_their_map(profile: str) -> None:
    found = 0
    for spec in PAPER.runs(profile).values():
        cfg = spec.train[-1]
        if cfg.method in ("dropblock", "disout"):
            side = tables.MAP_SIDE[cfg.model]
            assert 1 <= cfg.method_opts["block_size"] < side or side == 1, spec.id
            found += 1
    assert found
    assert tables.map_drop_opts("dropblock", "mnistnet") == {"block_size": 2}
    assert tables.map_drop_opts("disout", "mnistnet") == {"block_size": 3}


# ------------------------------------------------------------------ 6. Fig. 4


@pytest.mark.parametrize(
    "profile,model,analog", [("paper", "vgg16", False), ("fmnist", "mnistnet", True)]
)
def test_fig4_covers_the_regularisers_and_mdl_pcc(profile: str, model: str, analog: bool) -> None:
    specs, runs = check_paper(PAPER, profile)
    fig4 = next(t for t in specs if t.id == "fig4")
    rows = {c.row for c in fig4.cells}
    assert rows == set(tables.FIG4_ROWS) and "MDL-PCC (ours)" in rows
    attacks = {c.column.split(" eps=")[0] for c in fig4.cells}
    assert attacks == {"APGD", "CW-inf", "Square", "AA"}
    assert all(c.analog is analog for c in fig4.cells)
    assert all(runs[c.run].train[0].model == model for c in fig4.cells)
    claimed = {cmp.lhs[2] for cl in fig4.claims for cmp in cl.comparisons}
    assert claimed and not any(col.startswith("AA") for col in claimed)
    assert not any("MDL-PCC" in cmp.rhs[1] for cl in fig4.claims for cmp in cl.comparisons)


def test_quick_profile_has_no_fig4() -> None:
    specs, _ = check_paper(PAPER, "quick")
    assert "fig4" not in {t.id for t in specs}
