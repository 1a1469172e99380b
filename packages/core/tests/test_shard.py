"""Sharded evaluation: shards merged == one unsharded evaluation, per example; merge errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn

from robustlab.core.cli import main
from robustlab.core.errors import ConfigError
from robustlab.core.eval import EvalResult, evaluate, resolve_suite
from robustlab.core.eval.shard import (
    ShardSpec,
    evaluate_shard,
    merge_shards,
    shard_bounds,
)

# random starts: every batch's outcome depends on its attack seeds
SUITE = "fgsm-rs;pgd:steps=3"
EPS = 0.1
N, BATCH = 150, 32  # 5 batches, the last one partial


@pytest.fixture(scope="module")
def data() -> tuple[Tensor, Tensor]:
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


@pytest.fixture(scope="module")
def model(data: tuple[Tensor, Tensor]) -> nn.Module:
    x, y = data
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(5):
        for i in range(300, len(y), 100):
            opt.zero_grad()
            F.cross_entropy(net(x[i : i + 100]), y[i : i + 100]).backward()
            opt.step()
    return net.eval()


def run_shards(
    model: nn.Module, data: tuple[Tensor, Tensor], count: int, worst_case: bool = True
) -> list[EvalResult]:
    suite = resolve_suite(SUITE, EPS)
    suite = type(suite)(suite.name, suite.attacks, worst_case=worst_case)
    return [
        evaluate_shard(
            model,
            data,
            suite,
            f"{i}/{count}",
            n=N,
            batch_size=BATCH,
            seed=3,
            progress=False,
            checks=False,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("worst_case", [True, False])
def test_merged_shards_equal_unsharded_per_example(
    model: nn.Module, data: tuple[Tensor, Tensor], worst_case: bool
) -> None:
    suite = resolve_suite(SUITE, EPS)
    suite = type(suite)(suite.name, suite.attacks, worst_case=worst_case)
    whole = evaluate(
        model, data, suite, n=N, batch_size=BATCH, seed=3, progress=False, checks=False
    )
    shards = run_shards(model, data, 3, worst_case)
    assert [len(s.per_example["clean"]) for s in shards] == [32, 64, 54]
    merged = merge_shards(list(reversed(shards)))  # any order
    assert merged.n == whole.n == N
    assert merged.per_example == whole.per_example
    assert merged.clean_acc == whole.clean_acc
    assert merged.robust_acc == whole.robust_acc
    assert merged.worst_case_acc == whole.worst_case_acc
    assert 0 < merged.worst_case_acc < merged.clean_acc  # the attacks did something
    # the seeds matter: the middle shard evaluated from batch 0 gives other outcomes
    lo, hi = 32, 96
    plain = evaluate(
        model,
        (data[0][lo:hi], data[1][lo:hi]),
        suite,
        batch_size=BATCH,
        seed=3,
        progress=False,
        checks=False,
    )
    assert plain.per_example != shards[1].per_example


def test_shard_bounds_tile_on_batch_boundaries() -> None:
    spans = [shard_bounds(150, 32, ShardSpec(i, 3)) for i in range(3)]
    assert spans == [(0, 0, 32), (1, 32, 96), (3, 96, 150)]
    assert [shard_bounds(10, 10, ShardSpec(0, 1))] == [(0, 0, 10)]
    with pytest.raises(ConfigError, match="at most 5 shards"):
        shard_bounds(150, 32, ShardSpec(0, 6))


@pytest.mark.parametrize("text", ["4/4", "-1/4", "0/0", "a/b", "3", "1/2/3"])
def test_bad_shard_spec(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        ShardSpec.parse(text)


def test_merge_errors(model: nn.Module, data: tuple[Tensor, Tensor]) -> None:
    s0, s1, s2 = run_shards(model, data, 3)
    with pytest.raises(ConfigError, match=r"missing shards: examples 32..95 .*--shard 1/3"):
        merge_shards([s0, s2], ["a.json", "c.json"])
    with pytest.raises(ConfigError, match=r"missing shards: examples 96..149"):
        merge_shards([s0, s1])
    with pytest.raises(ConfigError, match=r"shard 1/3 is given twice \(b.json and b2.json\)"):
        merge_shards([s0, s1, s1, s2], ["a.json", "b.json", "b2.json", "c.json"])
    t0, t1 = run_shards(model, data, 2)  # 0..63, 64..149 overlaps 32..95
    with pytest.raises(ConfigError, match="shards overlap"):
        merge_shards([s0, s1, t1])
    other = evaluate_shard(
        model,
        data,
        SUITE,
        "2/3",
        n=N,
        batch_size=BATCH,
        seed=4,
        eps=EPS,
        progress=False,
        checks=False,
    )
    with pytest.raises(ConfigError, match="different evaluations: their seed differs"):
        merge_shards([s0, s1, other])
    changed = copy.deepcopy(model)
    changed.load_state_dict({k: v + 1e-6 for k, v in model.state_dict().items()})
    moved = evaluate_shard(
        changed,
        data,
        SUITE,
        "2/3",
        n=N,
        batch_size=BATCH,
        seed=3,
        eps=EPS,
        progress=False,
        checks=False,
    )
    with pytest.raises(ConfigError, match="their model differs"):
        merge_shards([s0, s1, moved])
    fgsm = evaluate_shard(
        model,
        data,
        "fgsm",
        "2/3",
        n=N,
        batch_size=BATCH,
        seed=3,
        eps=EPS,
        progress=False,
        checks=False,
    )
    with pytest.raises(ConfigError, match="their suite differs"):
        merge_shards([s0, s1, fgsm])
    whole = evaluate(model, data, SUITE, n=N, eps=EPS, progress=False, checks=False)
    with pytest.raises(ConfigError, match="not a shard result"):
        merge_shards([whole])
    with pytest.raises(ConfigError, match="no shard results"):
        merge_shards([])
    assert merge_shards([t0, t1]).per_example == merge_shards([s0, s1, s2]).per_example


def test_merge_flags_fail_when_any_shard_fails(
    model: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    s0, s1, s2 = run_shards(model, data, 3)
    s1.flags = {"threat_model": {"passed": False, "detail": "x_adv outside"}}
    s0.flags = s2.flags = {"threat_model": {"passed": True, "detail": "inside"}}
    merged = merge_shards([s0, s1, s2])
    assert merged.flags["threat_model"]["passed"] is False
    assert "shard 1/3: x_adv outside" in merged.flags["threat_model"]["detail"]
    assert merged.failed_checks == ["threat_model"]
    s1.flags = {"threat_model": {"passed": True, "detail": "inside"}}
    assert merge_shards([s0, s1, s2]).flags["threat_model"]["passed"] is True


def test_cli_shard_and_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robustlab.core import models

    torch.manual_seed(0)
    ckpt = tmp_path / "lenet5.safetensors"
    models.save_checkpoint(ckpt, models.build("lenet5", num_classes=10, in_channels=1), {})
    common = ["eval", "--model", "lenet5", "--checkpoint", str(ckpt), "--dataset", "digits-28"]
    common += ["--suite", SUITE, "--eps", "0.1", "--n", "40", "--batch-size", "8", "--seed", "1"]
    common += ["--no-checks", "--no-progress", "--device", "cpu"]
    whole_path = tmp_path / "whole.json"
    assert main([*common, "--out", str(whole_path)]) == 0
    files = []
    for i in (1, 0):
        out = tmp_path / f"r{i}.json"
        assert main([*common, "--shard", f"{i}/2", "--out", str(out)]) == 0
        files.append(str(out))
    merged_path = tmp_path / "merged.json"
    assert main(["eval", "merge", *files, "--out", str(merged_path)]) == 0
    merged, whole = EvalResult.load(merged_path), EvalResult.load(whole_path)
    assert merged.per_example == whole.per_example
    assert (merged.clean_acc, merged.robust_acc) == (whole.clean_acc, whole.robust_acc)
    doc = json.loads(merged_path.read_text())
    assert [s["index"] for s in doc["robustlab"]["meta"]["merged_shards"]] == [0, 1]
    capsys.readouterr()
    assert main(["eval", "merge", files[0]]) == 2
    assert "missing shards" in capsys.readouterr().err
    assert main([*common, "--shard", "2/2"]) == 2
    assert "out of range" in capsys.readouterr().err
    assert main(["eval", "--dataset", "digits-28"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


def test_merge_keeps_early_stop_and_rejects_a_mix(
    model: nn.Module, data: tuple[Tensor, Tensor]
) -> None:
    shards = run_shards(model, data, 2)
    assert all(s.early_stop for s in shards)  # worst-case default
    assert merge_shards(shards).early_stop is True
    suite = resolve_suite(SUITE, EPS)
    off = evaluate_shard(
        model,
        data,
        suite,
        "1/2",
        n=N,
        batch_size=BATCH,
        seed=3,
        progress=False,
        checks=False,
        early_stop=False,
    )
    with pytest.raises(ConfigError, match="with and without early stop"):
        merge_shards([shards[0], off])
