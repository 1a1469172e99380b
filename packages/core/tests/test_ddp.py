"""Data-parallel training (``robustlab.core.train.distributed``): batch sharding, and 2-process
``gloo`` runs under ``torchrun`` compared with the single-process run (same global batch),
killed and resumed, with LBGAT's guide and AWP's proxy, and through ``reproduce``."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from robustlab.core.data import Augment, BatchIterator
from robustlab.core.data.batches import shard_bounds
from robustlab.core.train import is_finished
from robustlab.core.train.distributed import (
    DistInfo,
    info,
    method_optimizers,
    on_main,
    own_method_state,
    reduce_gradients,
)

BASE: dict[str, Any] = dict(
    dataset="digits-28",
    model="lenet5",
    method="natural",
    n_train=300,
    n_test=200,
    batch_size=25,  # 300 = 12 batches; 25 = 13 + 12 on two ranks (uneven slices)
    lr=0.05,
    precision="fp32",
    seed=5,
)
SCRIPT = """
import json, sys
from robustlab.core.train import TrainConfig, train
train(TrainConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], device="cpu", progress=False)
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------- fast, one process
@pytest.mark.parametrize("n,world", [(7, 2), (8, 2), (10, 3), (3, 3), (2, 3), (0, 2), (5, 1)])
def test_shard_bounds_tile_the_batch(n: int, world: int) -> None:
    bounds = [shard_bounds(n, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)
    assert shard_bounds(7, 0, 2) == (0, 4) and shard_bounds(7, 1, 2) == (4, 7)


def test_shard_bounds_rejects_bad_ranks() -> None:
    for args in [(4, 2, 2), (4, -1, 2), (4, 0, 0), (-1, 0, 1)]:
        with pytest.raises(ValueError):
            shard_bounds(*args)


@pytest.mark.parametrize("world", [2, 3])
def test_rank_slices_together_are_the_single_process_batches(world: int) -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(53, 1, 6, 6, generator=g), torch.arange(53)
    aug = Augment(crop_padding=1, hflip=True)
    single = BatchIterator(x, y, 10, seed=3, augment=aug)
    ranks = [
        BatchIterator(x, y, 10, seed=3, augment=aug, rank=r, world_size=world) for r in range(world)
    ]
    for epoch in (0, 4):  # same order and augmentation on every rank, every epoch
        single.set_epoch(epoch)
        for it in ranks:
            it.set_epoch(epoch)
        ref = list(single)
        shards = [list(it) for it in ranks]
        # 53 % 10 = 3 >= world: the final batch of 3 is split too; nothing is dropped.
        assert len(single) == len(ranks[0]) == len(ref) == 6
        for b, (xb, yb) in enumerate(ref):
            assert single.global_batch_size(b) == len(yb)
            assert torch.equal(torch.cat([s[b][1] for s in shards]), yb)
            assert torch.equal(torch.cat([s[b][0] for s in shards]), xb)


def test_tiny_final_batch_is_dropped_and_small_batches_rejected() -> None:
    x, y = torch.rand(21, 1, 4, 4), torch.arange(21)
    it = BatchIterator(x, y, 10, shuffle=False, rank=1, world_size=2)
    assert len(it) == 2  # the final batch holds 1 example < 2 ranks: dropped on every rank
    assert [yb.tolist() for _, yb in it] == [list(range(5, 10)), list(range(15, 20))]
    assert len(BatchIterator(x, y, 10)) == 3  # a single process keeps it
    with pytest.raises(ValueError, match="batch_size 1 < 2"):
        BatchIterator(x, y, 1, rank=0, world_size=2)


def test_single_process_helpers_are_plain_calls() -> None:
    assert info() == DistInfo() and info().is_main and not info().enabled
    assert on_main(lambda a, b: a + b, 2, b=3) == 5
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    reduce_gradients([p], 0.5)  # no process group: the gradient is left alone
    assert torch.equal(p.grad, torch.full((3,), 2.0))


def test_per_rank_method_state_is_unpacked_for_its_rank() -> None:
    saved = {"k": 1, "t": torch.zeros(2), "ddp.rank1/k": 2, "ddp.rank1/t": torch.ones(2)}
    assert own_method_state(saved, 0) == {"k": 1, "t": saved["t"]}
    assert own_method_state(saved, 1) == {"k": 2, "t": saved["ddp.rank1/t"]}
    assert own_method_state(saved, 2) == {"k": 1, "t": saved["t"]}  # more ranks than saved


def test_awp_proxy_optimizer_is_found() -> None:
    from robustlab.core.models import build
    from robustlab.core.train import METHODS, TrainConfig
    from robustlab.core.train.method import TrainContext

    method = METHODS.build("awp-at", eps=0.1, alpha=0.05, steps=1)
    model = build("lenet5", num_classes=10, in_channels=1)
    ctx = TrainContext(TrainConfig(), torch.device("cpu"), 10, 1, (28, 28), 1, 1, "fp32", None)  # type: ignore[arg-type]
    method.setup(model, ctx)
    assert method_optimizers(method) == [method._proxy_opt]
    assert method_optimizers(METHODS.build("natural")) == []


# ---------------------------------------------------------------------------- 2 processes, gloo
def torchrun(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return subprocess.Popen(cmd + args, env=ENV, **kw)


SYNC = """
import json, sys
import torch
from torch import nn
from robustlab.core.train.distributed import Replicas, info, on_main, setup, sync_modules

_, dev = setup("cpu")
r = info().rank
net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
with torch.no_grad():
    for p in net.parameters():
        p.fill_(float(r + 1))
    net[1].running_mean.fill_(float(2 * r))  # ranks 0, 1 -> mean 1
    net[1].num_batches_tracked.fill_(10 + r)
sync_modules([net])
rep = Replicas(list(net.parameters()), [net], None)
w = rep.step_weight(3 - r, 5)  # global batch of 5: 3 + 2 examples
for p in net.parameters():
    p.grad = torch.full_like(p, float(r + 1))
rep.after_backward()
err = None
try:
    on_main(lambda: 1 / 0)
except ZeroDivisionError as exc:
    err = type(exc).__name__
out = {"w": w, "params": [p.flatten().tolist() for p in net.parameters()],
       "mean": net[1].running_mean.tolist(), "nbt": int(net[1].num_batches_tracked),
       "grads": [p.grad.flatten().tolist() for p in net.parameters()], "err": err,
       "main": on_main(lambda: f"rank {info().rank}")}
open(sys.argv[1] + f"/rank{r}.json", "w").write(json.dumps(out))
"""


def test_two_gloo_ranks_average_buffers_and_weight_gradients(tmp_path: Path) -> None:
    """sync_modules: float buffers averaged, parameters and integer buffers from rank 0;
    gradients: sum of (n_r / B) grad_r with 3 + 2 examples; on_main: rank 0's result and error."""
    script = tmp_path / "sync.py"
    script.write_text(SYNC)
    assert torchrun([str(script), str(tmp_path)]).wait() == 0
    outs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [o["w"] for o in outs] == [0.6, 0.4]
    for o in outs:
        assert all(v == 1.0 for p in o["params"] for v in p)
        assert o["mean"] == [1.0, 1.0, 1.0] and o["nbt"] == 10
        assert all(g == pytest.approx(0.6 * 1 + 0.4 * 2) for grad in o["grads"] for g in grad)
        assert o["err"] == "ZeroDivisionError" and o["main"] == "rank 0"


def train_both(config: dict[str, Any], tmp_path: Path) -> tuple[Path, Path, float, float]:
    """The run in one process and on two; returns (single dir, ddp dir, wall seconds of each)."""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    arg = json.dumps(config)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT, arg, str(single)], env=ENV, check=True)
    t1 = time.perf_counter()
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    assert torchrun([str(script), arg, str(ddp)]).wait() == 0
    return single, ddp, t1 - t0, time.perf_counter() - t1


def metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
def test_ddp_matches_single_process_and_only_rank0_writes(tmp_path: Path) -> None:
    """Natural training of LeNet-5 (no BatchNorm, no randomness besides the data order): with
    the same global batch, two ranks give the single-process weights up to float rounding."""
    single, ddp, _, _ = train_both({**BASE, "epochs": 3}, tmp_path)
    ws, wd = load_file(str(single / "model.safetensors")), load_file(str(ddp / "model.safetensors"))
    for k in ws:
        torch.testing.assert_close(wd[k], ws[k], rtol=1e-4, atol=1e-5)
    ms, md = metrics(single), metrics(ddp)
    for hs, hd in zip(ms["history"], md["history"]):
        assert hd["train_loss"] == pytest.approx(hs["train_loss"], rel=1e-4)
        assert hd["train_acc"] == pytest.approx(hs["train_acc"], abs=0.5)
    assert abs(md["clean_acc"] - ms["clean_acc"]) <= 1.0
    names = sorted(p.name for p in ddp.iterdir())
    assert names == sorted(p.name for p in single.iterdir())  # one set of files, rank 0's


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lbgat", "awp-at"])
def test_guide_and_proxy_are_averaged(method: str, tmp_path: Path) -> None:
    """LBGAT's jointly trained guide and AWP's proxy step: with eps = 0 the attack returns x,
    so the DDP run must give the single-process guide / perturbed weights up to rounding. AWP
    rescales the proxy's small step to ||w|| (v = ||w|| / ||d|| d), which magnifies float
    rounding to ~2e-5 here; without averaging the proxy's gradients the gap is ~1e-2."""
    opts: dict[str, Any] = {"eps": 0.0, "alpha": 0.01, "steps": 1}
    if method == "lbgat":
        opts.update(guide_model="lenet5")
        atol = 1e-5
    else:
        opts.update(gamma=0.05)
        atol = 2e-4
    config = {**BASE, "method": method, "epochs": 1, "method_opts": opts, "select_best": "none"}
    single, ddp, _, _ = train_both(config, tmp_path)
    ss = load_file(str(single / "train_state.safetensors"))
    sd = load_file(str(ddp / "train_state.safetensors"))
    keys = [k for k in ss if k.startswith(("model/", "extra/"))]
    if method == "lbgat":
        assert any(k.startswith("extra/guide/") for k in keys)
    for k in keys:
        torch.testing.assert_close(sd[k], ss[k], rtol=0, atol=atol, msg=k)
    assert metrics(ddp)["history"][-1]["train_loss"] == pytest.approx(
        metrics(single)["history"][-1]["train_loss"], rel=1e-4
    )


def _epochs_done(run: Path) -> int:
    try:
        return int(json.loads((run / "train_state.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
def test_killed_ddp_run_resumes_exactly(tmp_path: Path) -> None:
    """TRADES (random attack starts, per-rank RNG) on two ranks, SIGKILLed after an epoch and
    restarted: bit-identical to the uninterrupted two-rank run."""
    config = {
        **BASE,
        "method": "trades",
        "epochs": 5,
        "method_opts": {"eps": 0.1, "alpha": 0.05, "steps": 2, "beta": 1.0},
    }
    args = ["-m", "robustlab", "train", "--method", "trades", "--model", "lenet5"]
    args += ["--dataset", "digits-28", "--device", "cpu", "--no-progress", "--epochs", "5"]
    for k in ("n_train", "n_test", "batch_size", "lr", "precision", "seed", "method_opts"):
        args += ["--set", f"{k}={json.dumps(config[k])}"]
    ref = tmp_path / "runs" / "ref"
    assert torchrun([*args, "--runs-dir", str(tmp_path / "runs"), "--name", "ref"]).wait() == 0

    run = tmp_path / "runs" / "killed"
    proc = torchrun(
        [*args, "--runs-dir", str(tmp_path / "runs"), "--name", "killed"], start_new_session=True
    )
    deadline = time.time() + 300
    while _epochs_done(run) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # inside a later epoch
    os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both ranks
    proc.wait()
    assert not is_finished(run), "the run finished before it could be killed; make it longer"
    assert 1 <= _epochs_done(run) < 5

    assert torchrun([*args, "--runs-dir", str(tmp_path / "runs"), "--name", "killed"]).wait() == 0
    wa, wb = load_file(str(ref / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ha, hb = metrics(ref)["history"], metrics(run)["history"]
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]
    assert metrics(ref)["clean_acc"] == metrics(run)["clean_acc"]
    lines = (run / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]


REPRO = """
import sys
from pathlib import Path
from robustlab.core.repro import Paper, Plan, Profile, RunSpec, TableSpec, PROFILES, load_published
from robustlab.core.repro import reproduce
from robustlab.core.train import TrainConfig
from robustlab.core.train.distributed import info

class Toy(Paper):
    name = "toy"
    title = "toy"
    authors = "tests"
    venue = "tests"
    profiles = {n: Profile(n, n) for n in PROFILES}

    def __init__(self, csv):
        self.published = load_published(csv)

    def plan(self, profile):
        cfg = TrainConfig(dataset="digits-28", model="lenet5", method="natural", epochs=2,
                          n_train=300, batch_size=25, lr=0.05, seed=1)
        runs = {"e2": RunSpec("e2", (cfg,), None, n_eval=100)}
        cells = (self.cell("T", "Clean", "2 epochs", "e2", "clean_acc", kind="clean"),)
        return Plan([TableSpec("T", "toy", cells, ())], runs)

out = Path(sys.argv[1])
report = reproduce(Toy(out / "toy.csv"), profile="quick", device="cpu", runs_dir=out / "runs",
                   progress=False)
(out / f"rank{info().rank}.txt").write_text(f"{report.runs_done()}/{len(report.runs)}")
"""


@pytest.mark.slow
def test_reproduce_under_torchrun(tmp_path: Path) -> None:
    """``reproduce`` runs on rank 0, rank 1 joins its training; both return rank 0's report."""
    (tmp_path / "toy.csv").write_text("table,row,column,value,note\nT,Clean,2 epochs,90.0,\n")
    script = tmp_path / "repro.py"
    script.write_text(REPRO)
    assert torchrun([str(script), str(tmp_path)]).wait() == 0
    assert (tmp_path / "rank0.txt").read_text() == "1/1" == (tmp_path / "rank1.txt").read_text()
    train_dir = next((tmp_path / "runs").rglob("train_state.json")).parent
    assert metrics(train_dir)["finished"]
