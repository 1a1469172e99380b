"""The training engine: exact resume after SIGKILL, finished runs not retrained, run-dir checks,
best-epoch selection, init_from, method-state resume and the ``robustlab train`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from safetensors.torch import load_file

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, TrainConfig, is_finished, load_run, train
from robustlab.core.train.methods.natural import Natural

BASE = dict(
    dataset="digits-28",
    model="lenet5",
    n_train=256,
    n_test=64,
    batch_size=32,
    lr=0.05,
    precision="fp32",
    seed=3,
)
SEMANTIC = ("epoch", "train_loss", "train_acc", "kl", "lr", "val_clean_acc", "val_robust_acc")


def cfg(**kw: object) -> TrainConfig:
    return TrainConfig.from_dict({**BASE, **kw})


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def same_history(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ha, hb in zip(a, b):
        assert {k: ha[k] for k in SEMANTIC if k in ha} == {k: hb[k] for k in SEMANTIC if k in hb}


def assert_same_run(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    same_history(ma["history"], mb["history"])
    assert ma["clean_acc"] == mb["clean_acc"]


SCRIPT = """
import json, sys
from robustlab.core.train import TrainConfig, train
train(TrainConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], device="cpu", progress=False)
"""


def _epochs_done(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "train_state.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_resume_after_sigkill_is_exact(tmp_path: Path) -> None:
    config = cfg(
        method="trades", epochs=6, method_opts={"eps": 0.1, "alpha": 0.05, "steps": 2, "beta": 1.0}
    )
    ref = tmp_path / "uninterrupted"
    train(config, ref, device="cpu", progress=False)

    run = tmp_path / "killed"
    # Same thread count as this process: float reductions depend on how work is split.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(config.to_dict()), str(run)], env=env
    )
    deadline = time.time() + 120
    while _epochs_done(run) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.15)  # land somewhere inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not is_finished(run), "the run finished before it could be killed; make it longer"
    done = _epochs_done(run)
    assert 1 <= done < config.epochs

    result = train(config, run, device="cpu", progress=False)
    assert result.metrics["epochs_completed"] == config.epochs
    assert_same_run(ref, run)
    lines = (run / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(1, config.epochs + 1))


class _SimulatedCrashError(Exception):
    pass


class _CrashingOLS(Natural):
    """Natural training with the stateful OLS objective that raises once at a chosen global step
    (a simulated crash inside an epoch); its soft-label table must resume exactly."""

    name = "test/crashing-ols"
    DEFAULTS: ClassVar[dict[str, Any]] = {"objective": "ols", "reduction": "mean"}
    crash_at: int | None = None

    def before_step(self, model: torch.nn.Module, ctx) -> None:  # type: ignore[no-untyped-def]
        if ctx.step == type(self).crash_at:
            type(self).crash_at = None
            raise _SimulatedCrashError


if "test/crashing-ols" not in METHODS:
    METHODS.register("test/crashing-ols", _CrashingOLS)


def test_method_state_resumes_exactly(tmp_path: Path) -> None:
    config = cfg(
        method="test/crashing-ols", epochs=3, model_opts={"head": "msd", "head_opts": {"k": 2}}
    )
    train(config, tmp_path / "ref", device="cpu", progress=False)
    _CrashingOLS.crash_at = 8 + 5  # epoch 2 (0-based 1), batch 5
    with pytest.raises(_SimulatedCrashError):
        train(config, tmp_path / "crash", device="cpu", progress=False)
    assert _epochs_done(tmp_path / "crash") == 1
    train(config, tmp_path / "crash", device="cpu", progress=False)
    assert_same_run(tmp_path / "ref", tmp_path / "crash")
    state = load_file(str(tmp_path / "crash" / "train_state.safetensors"))
    assert "method/objective.objective.soft" in state and "optim/0/momentum_buffer" in state


def test_finished_run_is_loaded_not_retrained(tmp_path: Path) -> None:
    config = cfg(
        method="natural", epochs=1, schedule="multistep", schedule_opts={"milestones": (1,)}
    )
    first = train(config, tmp_path / "r", device="cpu", progress=False)
    stamp = (tmp_path / "r" / "model.safetensors").stat().st_mtime_ns
    again = train(config, tmp_path / "r", device="cpu", progress=False)
    assert (tmp_path / "r" / "model.safetensors").stat().st_mtime_ns == stamp
    assert again.metrics["clean_acc"] == first.metrics["clean_acc"]
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(again.model(x), first.model.eval()(x))
    assert load_run(tmp_path / "r").checkpoint.name == "model.safetensors"
    with pytest.raises(ConfigError, match="different configuration"):
        train(config.replace(lr=0.1), tmp_path / "r", device="cpu", progress=False)


def test_best_epoch_on_validation_split(tmp_path: Path) -> None:
    config = cfg(method="natural", epochs=3, val_fraction=0.25, select_best="val")
    res = train(config, tmp_path / "v", device="cpu", progress=False)
    hist = res.metrics["history"]
    scores = [h["val_clean_acc"] for h in hist]
    assert res.metrics["best_epoch"] == 1 + scores.index(max(scores))
    assert res.metrics["selection"] == {"by": "val", "metric": "clean", "uses_test_set": False}
    assert res.checkpoint.name == "best.safetensors"
    test_sel = train(
        config.replace(val_fraction=0.0, select_best="test"),
        tmp_path / "t",
        device="cpu",
        progress=False,
    )
    assert test_sel.metrics["selection"]["uses_test_set"] is True
    assert all("test_clean_acc" in h for h in test_sel.metrics["history"])


def test_robust_selection_for_adversarial_methods(tmp_path: Path) -> None:
    opts = {"eps": 0.1, "alpha": 0.05, "steps": 1, "val_steps": 2}
    config = cfg(
        method="madry-at", epochs=1, val_fraction=0.25, select_best="val", method_opts=opts
    )
    res = train(config, tmp_path / "a", device="cpu", progress=False)
    h = res.metrics["history"][0]
    assert res.metrics["selection"]["metric"] == "robust"
    assert 0 <= h["val_robust_acc"] <= h["val_clean_acc"]


def test_init_from_previous_run(tmp_path: Path) -> None:
    warm = train(cfg(method="natural", epochs=2), tmp_path / "warm", device="cpu", progress=False)
    nxt = cfg(
        method="label-smoothing", epochs=1, lr=1e-9, momentum=0.0, init_from=str(tmp_path / "warm")
    )
    res = train(nxt, tmp_path / "next", device="cpu", progress=False)
    for (k, a), b in zip(warm.model.state_dict().items(), res.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=k)
    with pytest.raises(ConfigError, match="init_from"):
        train(
            nxt.replace(init_from=str(tmp_path / "nothing")),
            tmp_path / "n2",
            device="cpu",
            progress=False,
        )


def test_cli_train_and_bad_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robustlab.core.cli import main

    common = [
        "train",
        "--method",
        "natural",
        "--model",
        "lenet5",
        "--dataset",
        "digits-28",
        "--runs-dir",
        str(tmp_path),
        "--no-progress",
        "--set",
        "n_train=64",
        "--set",
        "n_test=32",
    ]
    args = [*common, "--epochs", "1", "--set", "precision=fp32", "--name", "cli"]  # fmt: skip
    assert main(args) == 0
    assert is_finished(tmp_path / "cli")
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["precision"] == "fp32"
    assert main([*common, "--set", "lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "lrr" in err and "valid keys" in err
    assert main([*args, "--set", "method_opts.beta=1"]) == 2
    assert main([*common, "--set", "epochs=two"]) == 2
