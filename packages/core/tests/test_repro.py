"""End-to-end tests of the reproduction runner on a toy paper (scikit-learn digits).

The toy paper has one table of two runs ("e1": 1 epoch, "e3": 3 epochs of natural training, clean
and FGSM accuracy on 200 test digits) and one claim (3 epochs beat 1 epoch in clean accuracy).
One module-scoped reproduction is trained for real; the other tests copy its runs directory.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

import robustlab.core.eval as core_eval
import robustlab.core.train as core_train
from robustlab.core import plugins
from robustlab.core.cli import main
from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.report import render_report
from robustlab.core.repro import (
    PROFILES,
    Cell,
    Claim,
    Comparison,
    Paper,
    Plan,
    Profile,
    RunSpec,
    TableSpec,
    default_profile,
    load_published,
    reproduce,
)
from robustlab.core.train import TrainConfig

CSV = """table,row,column,value,note
T,Clean,1 epoch,80.0,
T,Clean,3 epochs,90.0,
T,FGSM eps=0.2,1 epoch,50.0,
T,FGSM eps=0.2,3 epochs,60.0,
T,FGSM eps=0.3,1 epoch,20.0,
T,FGSM eps=0.3,3 epochs,-,not reported
"""
COLUMNS = {"1 epoch": "e1", "3 epochs": "e3"}
ROWS = {
    "Clean": ("clean_acc", "clean"),
    "FGSM eps=0.2": ("acc/FGSM eps=0.2", "robust"),
    "FGSM eps=0.3": ("acc/FGSM eps=0.3", "robust"),
}


def train_config(epochs: int) -> TrainConfig:
    """Natural training of LeNet-5 on digits upsampled to 28x28 ("digits-28")."""
    return TrainConfig(
        dataset="digits-28",
        model="lenet5",
        method="natural",
        epochs=epochs,
        batch_size=64,
        optimizer="adam",
        lr=1e-3,
        seed=0,
    )


class ToyPaper(Paper):
    """Two runs, one table, one claim."""

    name = "toy"
    title = "Training longer helps (toy)"
    authors = "Test Author"
    venue = "robustlab tests"

    profiles = {n: Profile(n, f"{n}: digits, 1 vs 3 epochs, 200 examples") for n in PROFILES}  # noqa: RUF012

    def __init__(self, csv_path: Path) -> None:
        self.published = load_published(csv_path)

    def plan(self, profile: Profile) -> Plan:
        suite = Suite(
            "toy-fgsm",
            [AttackSpec(f"FGSM eps={e}", "fgsm", {"eps": e}) for e in (0.2, 0.3)],
            worst_case=False,
        )
        runs = {
            rid: RunSpec(rid, (train_config(n),), suite, n_eval=200, autoattack_n=32)
            for rid, n in (("e1", 1), ("e3", 3))
        }
        cells = tuple(
            self.cell("T", row, col, run, metric, kind=kind)
            for row, (metric, kind) in ROWS.items()
            for col, run in COLUMNS.items()
        )
        claim = Claim(
            "longer-is-better",
            "3 epochs beat 1 epoch in clean accuracy",
            "T",
            (Comparison(("T", "Clean", "3 epochs"), ">", ("T", "Clean", "1 epoch")),),
        )
        return Plan([TableSpec("T", "Toy: epochs vs accuracy on digits", cells, (claim,))], runs)


class Counter:
    """Wraps train() / evaluate(): records calls, optionally interrupts."""

    def __init__(self, fn: Any, interrupt_after: int | None = None) -> None:
        self.fn, self.calls, self.interrupt_after = fn, [], interrupt_after

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append(args[1] if len(args) > 1 else kwargs.get("run_dir", kwargs.get("data")))
        return self.fn(*args, **kwargs)


def run_ids(counter: Counter) -> list[str]:
    """Run ids of train() calls (the run dir is <...>/_runs/<id>/train)."""
    return [Path(p).parent.name for p in counter.calls]


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> ToyPaper:
    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    path.write_text(CSV)
    return ToyPaper(path)


@pytest.fixture(scope="module")
def interrupted(paper: ToyPaper, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The toy reproduction killed while evaluating its second run, then re-run to the end.

    Returns what the tests check: the runs directory, which metrics files existed after the
    kill, and the run ids train() was called for on the re-run.
    """
    runs = tmp_path_factory.mktemp("runs")
    rdir = runs / "toy" / "quick" / "_runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core_eval, "evaluate", Counter(core_eval.evaluate, interrupt_after=3))
        with pytest.raises(KeyboardInterrupt):
            reproduce(paper, profile="quick", device="cpu", runs_dir=runs, progress=False)
    after_kill = sorted(p.parent.name for p in rdir.glob("*/metrics.json"))
    with pytest.MonkeyPatch.context() as mp:
        train = Counter(core_train.train)
        mp.setattr(core_train, "train", train)
        report = reproduce(
            paper,
            profile="quick",
            device="cpu",
            runs_dir=runs,
            progress=False,
            render=render_report,
        )
    return {"runs": runs, "after_kill": after_kill, "retrained": run_ids(train), "report": report}


@pytest.fixture(scope="module")
def finished(interrupted: dict[str, Any]) -> Path:
    """A runs directory holding the finished toy reproduction (trained once per module)."""
    return interrupted["runs"]


@pytest.fixture
def runs_copy(finished: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "runs"
    shutil.copytree(finished, dest)
    return dest


def test_end_to_end_report(finished: Path) -> None:
    pdir = finished / "toy" / "quick"
    for name in ("report.md", "report.csv", "claims.csv", "report.html", "tables.json"):
        assert (pdir / name).is_file(), name
    md = (pdir / "report.md").read_text()
    assert "| Row | Column | Paper | Ours | 95 % CI | Δ |" in md
    assert "Quick profile" in md and "NOT comparable" in md
    assert "longer-is-better" in md and "(paper: holds)" in md
    cells = {
        (c["row"], c["column"]): c
        for c in (json.loads(p.read_text()) for p in pdir.glob("T/*/cell.json"))
    }
    assert len(cells) == 6
    e1, e3 = cells[("Clean", "1 epoch")], cells[("Clean", "3 epochs")]
    assert 10.0 < e1["ours"] <= 100.0 and e3["ours"] > e1["ours"]  # digits: 3 epochs learn more
    assert e1["delta"] == pytest.approx(e1["ours"] - 80.0)
    assert cells[("FGSM eps=0.3", "3 epochs")]["paper_value"] is None
    assert "**holds** (paper: holds)" in md
    csv = (pdir / "report.csv").read_text().splitlines()
    assert csv[0].startswith("paper,profile,table,row,column") and len(csv) == 7
    html = (pdir / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html
    assert (pdir / "figures" / "eps_curves.svg").is_file()


def test_interrupted_reproduction_recomputes_nothing_finished(interrupted: dict[str, Any]) -> None:
    assert interrupted["after_kill"] == ["e1"]  # e3 was trained, then killed while evaluating
    assert interrupted["retrained"] == ["e3"]  # e1 finished before the kill: train() not called
    assert interrupted["report"].runs_done() == 2
    assert (interrupted["runs"] / "toy" / "quick" / "_runs" / "e3" / "eval.json").is_file()


def test_corrupt_run_is_detected_and_recomputed(
    paper: ToyPaper,
    runs_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pdir = runs_copy / "toy" / "quick"
    (pdir / "_runs" / "e1" / "metrics.json").write_text('{"robustlab": {"repro": {"compl')
    train = Counter(core_train.train)
    monkeypatch.setattr(core_train, "train", train)
    with caplog.at_level(logging.WARNING, logger="robustlab"):
        report = reproduce(paper, profile="quick", device="cpu", runs_dir=runs_copy, progress=False)
    assert run_ids(train) == ["e1"]
    assert any("e1" in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    assert len(list((pdir / "_corrupt").iterdir())) == 1
    assert report.runs_done() == 2


def test_missing_checkpoint_and_config_change_are_recomputed(
    paper: ToyPaper,
    runs_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pdir = runs_copy / "toy" / "quick" / "_runs"
    rec = json.loads((pdir / "e3" / "metrics.json").read_text())["robustlab"]["repro"]
    (pdir / "e3" / rec["checkpoint"]).unlink()
    cfg = json.loads((pdir / "e1" / "config.json").read_text())
    cfg["config_hash"] = "0" * 12
    (pdir / "e1" / "config.json").write_text(json.dumps(cfg))
    train = Counter(core_train.train)
    monkeypatch.setattr(core_train, "train", train)
    with caplog.at_level(logging.WARNING, logger="robustlab"):
        reproduce(paper, profile="quick", device="cpu", runs_dir=runs_copy, progress=False)
    assert sorted(run_ids(train)) == ["e1", "e3"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "checkpoint" in messages and "config hash" in messages


def test_corrupt_cell_is_rewritten_without_retraining(
    paper: ToyPaper,
    runs_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cell = next((runs_copy / "toy" / "quick" / "T").glob("Clean__1_epoch/cell.json"))
    cell.write_text("{not json")
    train = Counter(core_train.train)
    monkeypatch.setattr(core_train, "train", train)
    with caplog.at_level(logging.WARNING, logger="robustlab"):
        reproduce(paper, profile="quick", device="cpu", runs_dir=runs_copy, progress=False)
    assert train.calls == []
    assert "corrupt" in caplog.text
    assert json.loads(cell.read_text())["metric"] == "clean_acc"


def test_report_cli_rerenders_from_runs_dir_alone(
    runs_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdir = runs_copy / "toy" / "quick"
    for name in ("report.md", "report.html", "report.csv"):
        (pdir / name).unlink()
    assert main(["report", str(runs_copy)]) == 0
    assert "holds" in (pdir / "report.md").read_text()
    assert str(pdir) in capsys.readouterr().out


def test_reproduce_cli_skips_finished(
    paper: ToyPaper,
    runs_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(plugins._loaded, "toy", paper)
    train = Counter(core_train.train)
    monkeypatch.setattr(core_train, "train", train)
    argv = ["reproduce", "toy", "--profile", "quick", "--tables", "T", "--device", "cpu"]
    assert main([*argv, "--runs-dir", str(runs_copy), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert train.calls == [] and "2/2 runs finished" in out and "longer-is-better: holds" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["reproduce", "no-such-paper"], "unknown paper 'no-such-paper'"),
        (["report", "/nonexistent/runs"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_unknown_table_and_default_profile(paper: ToyPaper, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown table.*tables T"):
        reproduce(
            paper, tables=["9"], profile="quick", device="cpu", runs_dir=tmp_path, progress=False
        )
    with pytest.raises(ValueError, match="profile must be one of"):
        reproduce(paper, profile="huge", device="cpu", runs_dir=tmp_path, progress=False)
    import torch

    assert default_profile(paper, torch.device("cpu")) == "quick"


def test_specs_are_validated(paper: ToyPaper) -> None:
    bad = Cell("T", "Clean", "1 epoch", "nope", "clean_acc", 80.0)
    assert bad.effective_tolerance == 5.0  # robust by default
    with pytest.raises(ValueError, match="kind"):
        Cell("T", "r", "c", "e1", "clean_acc", None, kind="weird")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="op"):
        Comparison(("T", "a", "b"), "=>", ("T", "a", "c"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="id"):
        RunSpec("bad/id", (train_config(1),), None, None)

    class Broken(ToyPaper):
        def tables(self, profile: str) -> list[TableSpec]:
            return [TableSpec("T", "t", (bad,))]

    broken = Broken.__new__(Broken)
    broken.published = paper.published
    with pytest.raises(ValueError, match="uses run 'nope'"):
        reproduce(broken, profile="quick", device="cpu", progress=False)


def test_eta_from_mean_run_time() -> None:
    from robustlab.core.repro.runner import eta_text

    assert eta_text([], 3) == "?"
    assert eta_text([10.0, 20.0], 0) == "0:00:00"
    assert eta_text([1800.0, 1800.0], 3) == "1:30:00"
    assert eta_text([61.0], 1) == "0:01:01"
