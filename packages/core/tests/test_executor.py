"""Cluster executors: the job graph (ordering, skipping), the scheduler, submitit's LocalExecutor.

The fast tests drive :func:`run_graph` with fake job handles (no submitit). The slow test
reproduces a toy paper (digits, two runs, one needing the other, one with two evaluation
shards) through submitit's LocalExecutor and checks the merged evaluation per example.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from robustlab.core.cli import main
from robustlab.core.errors import ConfigError
from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import (
    PROFILES,
    Paper,
    Plan,
    Profile,
    RunSpec,
    TableSpec,
    load_published,
    reproduce,
)
from robustlab.core.repro.execute import EVAL_RESULT, shard_file
from robustlab.core.repro.executors import (
    Job,
    JobError,
    SubmititExecutor,
    job_graph,
    parse_options,
    require_submitit,
    run_graph,
)
from robustlab.core.repro.spec import DEFAULT_RESOURCES, Resources
from robustlab.core.repro.store import run_dir, spec_hash
from robustlab.core.train import TrainConfig

SUITE = Suite("toy-fgsm", [AttackSpec("FGSM eps=0.2", "fgsm-rs", {"eps": 0.2})])


def cfg(epochs: int = 1) -> TrainConfig:
    return TrainConfig(
        dataset="digits-28", model="lenet5", method="natural", epochs=epochs, batch_size=64,
        optimizer="adam", lr=1e-3, seed=0,
    )  # fmt: skip


def toy_runs(shards: int = 2) -> dict[str, RunSpec]:
    """ "base" (sharded evaluation), "student" needs it, "solo" stands alone."""
    one = Resources(cpus=1, mem_gb=2, time_min=10)
    return {
        "base": RunSpec("base", (cfg(),), SUITE, 96, eval_batch_size=32, eval_shards=shards,
                        resources=one),
        "student": RunSpec("student", (cfg(),), SUITE, 64, needs={"teacher": "base"},
                           resources=one),
        "solo": RunSpec("solo", (cfg(),), None, 32, resources=one),
    }  # fmt: skip


def test_job_graph_orders_and_skips_finished_parts(tmp_path: Path) -> None:
    runs = toy_runs(shards=3)
    jobs = job_graph(["base", "student", "solo"], runs, tmp_path)
    assert [(j.key, j.deps) for j in jobs] == [
        ("train:base", ()),
        ("shard:base:0", ("train:base",)),
        ("shard:base:1", ("train:base",)),
        ("shard:base:2", ("train:base",)),
        ("finish:base", ("shard:base:0", "shard:base:1", "shard:base:2")),
        ("run:student", ("finish:base",)),
        ("run:solo", ()),
    ]
    assert [j.completes_run for j in jobs] == [False] * 4 + [True] * 3
    # a rerun: base's training finished, shard 1 written; base itself finished -> no edge
    train = run_dir(tmp_path, "base") / "train"
    train.mkdir(parents=True)
    (train / "metrics.json").write_text(json.dumps({"finished": True, "checkpoint": "m"}))
    (run_dir(tmp_path, "base") / shard_file(1, 3)).write_text("{}")
    jobs = job_graph(["base", "student"], runs, tmp_path)
    assert [(j.key, j.deps) for j in jobs] == [
        ("shard:base:0", ()),
        ("shard:base:2", ()),
        ("finish:base", ("shard:base:0", "shard:base:2")),
        ("run:student", ("finish:base",)),
    ]
    assert [(j.key, j.deps) for j in job_graph(["student"], runs, tmp_path)] == [
        ("run:student", ())
    ]
    # seeded runs and runs without a suite are never sharded
    seeded = {"s": RunSpec("s", (cfg(),), SUITE, 32, seeds=(0, 1), eval_shards=4)}
    assert [j.key for j in job_graph(["s"], seeded, tmp_path)] == ["run:s"]


class FakeHandle:
    """Done after ``polls`` calls of done(); result() raises when ``fail``."""

    def __init__(self, job: Job, polls: int, fail: bool) -> None:
        self.job, self.polls, self.fail, self.cancelled = job, polls, fail, False

    def done(self) -> bool:
        self.polls -= 1
        return self.polls < 0

    def result(self) -> Any:
        if self.fail:
            raise RuntimeError(f"{self.job.key} crashed")
        return self.job.key

    def cancel(self) -> None:
        self.cancelled = True


class FakeCluster:
    def __init__(self, polls: int = 1, fail: str | None = None) -> None:
        self.polls, self.fail = polls, fail
        self.submitted: list[str] = []
        self.finished: list[str] = []
        self.handles: list[FakeHandle] = []
        self.peak = 0

    def submit(self, job: Job) -> FakeHandle:
        missing = [d for d in job.deps if d not in self.finished]
        assert not missing, f"{job.key} submitted before {missing} finished"
        self.submitted.append(job.key)
        handle = FakeHandle(job, self.polls, job.key == self.fail)
        self.handles.append(handle)
        self.peak = max(self.peak, len(self.submitted) - len(self.finished))
        return handle

    def on_done(self, job: Job) -> None:
        self.finished.append(job.key)


def test_run_graph_respects_dependencies_and_max_jobs(tmp_path: Path) -> None:
    jobs = job_graph(["base", "student", "solo"], toy_runs(shards=3), tmp_path)
    cluster = FakeCluster(polls=2)
    run_graph(jobs, cluster.submit, cluster.on_done, poll_s=0)
    assert sorted(cluster.finished) == sorted(j.key for j in jobs)
    assert cluster.submitted[:2] == ["train:base", "run:solo"]  # independent: both at once
    assert cluster.finished.index("finish:base") < cluster.submitted.index("run:student")
    assert cluster.peak == 3  # the three shards in flight together
    capped = FakeCluster(polls=2)
    run_graph(jobs, capped.submit, capped.on_done, max_jobs=1, poll_s=0)
    assert capped.peak == 1 and len(capped.finished) == len(jobs)


def test_run_graph_failure_cancels_and_names_the_job(tmp_path: Path) -> None:
    jobs = job_graph(["base", "solo"], toy_runs(shards=2), tmp_path)
    cluster = FakeCluster(polls=0, fail="shard:base:1")
    slow = {"run:solo"}

    def submit(job: Job) -> FakeHandle:
        handle = cluster.submit(job)
        handle.polls = 100 if job.key in slow else 0
        return handle

    with pytest.raises(JobError, match=r"job shard:base:1 of run base failed \(log: L\).*rerun"):
        run_graph(jobs, submit, cluster.on_done, poll_s=0, describe=lambda j, h: "L")
    assert "finish:base" not in cluster.submitted
    assert [h.job.key for h in cluster.handles if h.cancelled] == ["run:solo"]
    with pytest.raises(ValueError, match="not in the graph"):
        run_graph([Job("run:a", "a", "run", ("run:b",))], cluster.submit)


def test_options_resources_and_missing_submitit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_options(["slurm_qos=high", "timeout_min=600", "mem_gb=7.5", "x=true"]) == {
        "slurm_qos": "high", "timeout_min": 600, "mem_gb": 7.5, "x": True,
    }  # fmt: skip
    with pytest.raises(ConfigError, match="key=value"):
        parse_options(["slurm_qos"])
    assert DEFAULT_RESOURCES["paper"].gpus == 1 and DEFAULT_RESOURCES["quick"].gpus == 0
    with pytest.raises(ValueError, match="cpus"):
        Resources(cpus=0)
    with pytest.raises(ValueError, match="eval_shards"):
        RunSpec("x", (cfg(),), SUITE, 10, eval_shards=0)
    # resources and shards do not change a run's hash (finished runs stay finished)
    assert spec_hash(toy_runs()["base"]) == spec_hash(
        RunSpec("base", (cfg(),), SUITE, 96, eval_batch_size=32)
    )
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install submitit"):
        require_submitit("local")
    assert main(["reproduce", "toy-none", "--executor", "local"]) == 2
    assert "needs submitit" in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "submitit")
    assert main(["reproduce", "x", "--executor", "local", "--slurm-partition", "gpu"]) == 2
    assert "--slurm-partition needs --executor slurm" in capsys.readouterr().err
    pytest.importorskip("submitit")
    ex = SubmititExecutor("local", tmp_path, {"timeout_min": 5})
    params = ex.parameters(Job("run:a", "a", "run"), Resources(cpus=3, gpus=0, mem_gb=3.5))
    assert params == {
        "name": "robustlab-run-a", "timeout_min": 5, "cpus_per_task": 3, "gpus_per_node": 0,
        "mem_gb": 4,
    }  # fmt: skip


def test_slurm_parameters_reach_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sbatch script submitit would submit for a paper-profile job (a stub srun on PATH)."""
    pytest.importorskip("submitit")
    with pytest.raises(ConfigError, match="--executor slurm: submitit cannot submit here"):
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        SubmititExecutor("slurm", tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    opts = parse_options(["slurm_partition=gpu", "slurm_account=lab", "slurm_qos=high"])
    ex = SubmititExecutor("slurm", tmp_path / "_jobs", opts)
    job = Job("shard:base:1", "base", "shard", (), 1)
    ex.executor.update_parameters(**ex.parameters(job, DEFAULT_RESOURCES["paper"]))
    script = ex.executor._executor._make_submission_file_text("python -m job", "uid")
    for line in (
        "--partition=gpu", "--account=lab", "--qos=high", "--cpus-per-task=8",
        "--gpus-per-node=1", "--mem=64GB", "--time=2880", "--job-name=robustlab-shard-base-1",
    ):  # fmt: skip
        assert f"#SBATCH {line}\n" in script, line


class ToyPaper(Paper):
    """One table: clean and FGSM accuracy of three digits runs."""

    name = "toyjobs"
    title = "Jobs (toy)"
    authors = "Test Author"
    venue = "robustlab tests"
    profiles = {n: Profile(n, f"{n}: digits, 1 epoch") for n in PROFILES}  # noqa: RUF012

    def __init__(self, csv_path: Path) -> None:
        self.published = load_published(csv_path)

    def plan(self, profile: Profile) -> Plan:
        runs = toy_runs()
        rows = (("Clean", "clean_acc", "clean"), ("FGSM", "acc/FGSM eps=0.2", "other"))
        cells = [
            self.cell("T", row, rid, rid, metric, kind=kind)
            for rid in ("base", "student")
            for row, metric, kind in rows
        ]
        cells.append(self.cell("T", "Clean", "solo", "solo", "train/clean_acc", kind="clean"))
        return Plan([TableSpec("T", "Toy jobs", tuple(cells))], runs)


CSV = "table,row,column,value,note\n" + "".join(
    f"T,{row},{col},50.0,\n" for row in ("Clean", "FGSM") for col in ("base", "student")
) + "T,Clean,solo,50.0,\n"  # fmt: skip


@pytest.mark.slow
def test_local_executor_reproduces_toy_paper(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from robustlab.core.eval import evaluate
    from robustlab.core.eval.result import EvalResult
    from robustlab.core.report import render_report
    from robustlab.core.repro.execute import load_eval_data
    from robustlab.core.train.runs import load_run

    (tmp_path / "toy.csv").write_text(CSV)
    paper = ToyPaper(tmp_path / "toy.csv")
    runs_dir = tmp_path / "runs"
    kw: dict[str, Any] = {"profile": "quick", "device": "cpu", "runs_dir": runs_dir}
    report = reproduce(paper, progress=False, render=render_report, executor="local", **kw)
    pdir = runs_dir / "toyjobs" / "quick"
    assert report.runs_done() == 3 and (pdir / "report.md").is_file()
    jobs = sorted(p.name for p in (pdir / "_jobs").iterdir() if p.name.isdigit())
    assert len(jobs) == 6  # base: train, 2 shards, finish; student; solo
    base = run_dir(pdir, "base")
    assert (base / shard_file(0, 2)).is_file() and (base / shard_file(1, 2)).is_file()
    merged = EvalResult.from_json(json.loads((base / EVAL_RESULT).read_text()))
    assert [s["index"] for s in merged.meta["merged_shards"]] == [0, 1]
    spec = toy_runs()["base"]
    model = load_run(base / "train", "cpu").model
    whole = evaluate(
        model, load_eval_data(spec), SUITE, batch_size=32, seed=spec.eval_seed,
        progress=False, checks=False,
    )  # fmt: skip
    assert merged.per_example == whole.per_example and merged.n == 96
    cells = [json.loads(p.read_text()) for p in pdir.glob("T/*/cell.json")]
    assert len(cells) == 5 and all(c["ours"] is not None for c in cells)
    assert torch.get_num_threads() >= 1
    # a rerun submits nothing
    reproduce(paper, progress=False, executor="local", **kw)
    again = sorted(p.name for p in (pdir / "_jobs").iterdir() if p.name.isdigit())
    assert again == jobs
