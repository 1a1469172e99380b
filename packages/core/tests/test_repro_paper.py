"""The paper template: Preset, Profile, the Paper base, run dependencies and paper subcommands.

Dependency tests train tiny LeNet-5 runs on scikit-learn's digits (no attack evaluation), so
the whole module runs in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import robustlab.core.train as core_train
from robustlab.core import plugins
from robustlab.core.cli import main
from robustlab.core.errors import ConfigError
from robustlab.core.repro import (
    PROFILES,
    Cell,
    HelperRunError,
    Paper,
    Plan,
    Preset,
    Profile,
    RunSpec,
    TableSpec,
    check_paper,
    dependency_order,
    need_ref,
    reproduce,
)
from robustlab.core.repro.plan import check_helper, resolve_need_refs, with_needs
from robustlab.core.repro.store import spec_hash
from robustlab.core.train import TrainConfig


def cfg(lr: float = 1e-3, seed: int = 0) -> TrainConfig:
    return Preset(
        "natural",
        config={
            "dataset": "digits-28",
            "model": "lenet5",
            "epochs": 1,
            "batch_size": 64,
            "optimizer": "adam",
            "lr": lr,
            "seed": seed,
        },
    ).train_config()


# ------------------------------------------------------------------ Preset / Profile


def test_preset_is_its_train_config_and_nothing_else() -> None:
    p = Preset(
        "trades",
        {"eps": 0.1, "beta": 6.0},
        {"dataset": "fashion-mnist", "model": "lenet5", "epochs": 3, "lr": 0.05},
        command="robustlab reproduce x --profile quick",
        expected="Table 1, row, column: 91.0",
    )
    c = p.train_config()
    assert (c.method, c.method_opts, c.epochs, c.lr, c.model) == (
        "trades",
        {"eps": 0.1, "beta": 6.0},
        3,
        0.05,
        "lenet5",
    )
    assert c.to_dict() == TrainConfig(**{**c.to_dict()}).to_dict()
    assert c.momentum == TrainConfig().momentum  # unset fields keep TrainConfig's defaults
    assert p.epochs == 3 and p.momentum == 0.9  # config fields read as attributes
    assert p.doc.startswith("robustlab reproduce x --profile quick  ->  Table 1")
    assert p.replace(epochs=5).train_config().epochs == 5 and p.epochs == 3
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field.*epoch"):
        Preset("natural", config={"epoch": 3})
    with pytest.raises(ConfigError, match="as Preset arguments"):
        Preset("natural", config={"method": "trades"})


def test_profile_settings_replace_and_hash() -> None:
    q = Profile("quick", "QUICK", epochs=2, eps=(0.1, 0.2))
    assert q.epochs == 2 and q.eps == (0.1, 0.2) and q.description == "QUICK"
    smaller = q.replace(epochs=1)
    assert smaller.epochs == 1 and q.epochs == 2 and smaller != q
    assert hash(q.replace(epochs=2)) == hash(q) and q.replace(epochs=2) == q
    with pytest.raises(ConfigError, match=r"no setting.*epohcs"):
        q.replace(epohcs=3)
    with pytest.raises(AttributeError, match="no setting 'lr'"):
        _ = q.lr


# ------------------------------------------------------------------ a fake paper

CSV = "table,row,column,value,note\nT,Clean,student,90.0,\n"


class FakePaper(Paper):
    """A teacher (helper run) and a student that needs it; ``student`` fills the one cell."""

    name = "fakepaper"
    title = "Students need teachers"
    profiles = {n: Profile(n, f"{n}: digits", teacher_lr=1e-3) for n in PROFILES}  # noqa: RUF012
    csv = "data.csv"

    def __init__(self, tmp: Path, *, cycle: bool = False) -> None:
        (tmp / "data.csv").write_text(CSV)
        self.package_dir = tmp
        self.cycle = cycle

    @property
    def published(self) -> list[Any]:  # type: ignore[override]
        from robustlab.core.repro import load_published

        return load_published(self.package_dir / "data.csv")

    def plan(self, profile: Profile) -> Plan:
        teacher_needs = {"student": "student"} if self.cycle else {}
        runs = {
            "teacher": RunSpec(
                "teacher", (cfg(profile.teacher_lr),), None, 100, needs=teacher_needs
            ),
            "student": RunSpec("student", (cfg(),), None, 100, needs={"teacher": "teacher"}),
            "student2": RunSpec("student2", (cfg(seed=1),), None, 100, needs={"t": "teacher"}),
        }
        cells = (
            self.cell("T", "Clean", "student", "student", "train/clean_acc", kind="clean"),
            Cell("T", "Clean", "student2", "student2", "train/clean_acc", None, kind="clean"),
        )
        return Plan([TableSpec("T", "students", cells)], runs)


class Recorder:
    """Wraps core train(): records (run id, needs) per call."""

    def __init__(self) -> None:
        self.fn = core_train.train
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, config: Any, run_dir: Any, **kw: Any) -> Any:
        self.calls.append((Path(run_dir).parent.name, dict(getattr(config, "needs", {}) or {})))
        return self.fn(config, run_dir, **kw)


@pytest.fixture
def fake_needs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Until TrainConfig has ``needs``, record what the runner would pass instead of failing."""
    seen: list[dict[str, str]] = []
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if "needs" not in fields:

        def fake(c: Any, dirs: dict[str, str]) -> Any:
            seen.append(dict(dirs))
            return c

        monkeypatch.setattr("robustlab.core.repro.execute.with_needs", fake)
    return seen


def test_paper_base_loads_csv_and_looks_profiles_up(tmp_path: Path) -> None:
    paper = FakePaper(tmp_path)
    assert paper.published_value("T", "Clean", "student") == 90.0
    assert paper.describe_profile("quick") == "quick: digits"
    assert paper.planned("quick") is paper.planned("quick")  # planned once per profile
    with pytest.raises(ConfigError, match="profile must be one of fmnist, paper, quick; got 'x'"):
        paper.tables("x")
    assert paper.plan(paper.profile("quick")).dependencies() == ["teacher"]


def test_dependency_order_cycles_and_hashes(tmp_path: Path) -> None:
    runs = FakePaper(tmp_path).runs("quick")
    assert dependency_order(runs, ["student2", "student"]) == ["teacher", "student2", "student"]
    cyclic = FakePaper(tmp_path, cycle=True)
    with pytest.raises(ValueError, match="cycle: teacher -> student -> teacher"):
        check_paper(cyclic, "quick")
    with pytest.raises(ValueError, match="needs 'ghost' as 'teacher'"):
        dependency_order(
            {"a": RunSpec("a", (cfg(),), None, None, needs={"teacher": "ghost"})}, ["a"]
        )
    # the teacher's hash is part of the student's: a changed teacher retrains its students
    other = {**runs, "teacher": RunSpec("teacher", (cfg(lr=0.5),), None, 100)}
    assert spec_hash(runs["student"], runs) != spec_hash(runs["student"], other)
    assert spec_hash(runs["teacher"]) == spec_hash(runs["teacher"], runs)
    with pytest.raises(ValueError, match="pass the profile's runs"):
        spec_hash(runs["student"])


def test_need_refs_resolve_in_suites() -> None:
    from robustlab.core.eval import AttackSpec, Suite

    suite = Suite("s", [AttackSpec("t", "fgsm", {"eps": 0.1, "src": need_ref("sub")})])
    out = resolve_need_refs(suite, {"sub": "/runs/sub/train"}, "r")
    assert out.attacks[0].kwargs["src"] == "/runs/sub/train"
    assert suite.attacks[0].kwargs["src"] == "needs:sub"  # the spec itself is unchanged
    with pytest.raises(ValueError, match="needs no 'sub'"):
        resolve_need_refs(suite, {}, "r")
    assert with_needs(cfg(), {}) == cfg()


def test_runner_trains_dependencies_first_once_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_needs: list[dict[str, str]]
) -> None:
    paper = FakePaper(tmp_path)
    rec = Recorder()
    monkeypatch.setattr(core_train, "train", rec)
    report = reproduce(paper, profile="quick", device="cpu", runs_dir=tmp_path, progress=False)
    ids = [rid for rid, _ in rec.calls]
    assert ids == ["teacher", "student", "student2"]  # teacher first, trained once, shared
    teacher_dir = str(tmp_path / "fakepaper" / "quick" / "_runs" / "teacher" / "train")
    passed = fake_needs or [n for _, n in rec.calls if n]
    assert passed == [{"teacher": teacher_dir}, {"t": teacher_dir}]
    assert report.runs["teacher"]["summary"]["helper"] is True  # listed with the runs
    assert report.runs["teacher"]["metrics"]["train/clean_acc"] > 15
    snap = json.loads((tmp_path / "fakepaper" / "quick" / "tables.json").read_text())
    assert snap["runs"]["student"]["needs"] == {"teacher": "teacher"}
    # resume: nothing to train again
    rec.calls.clear()
    reproduce(paper, profile="quick", device="cpu", runs_dir=tmp_path, progress=False)
    assert rec.calls == []
    # a changed teacher retrains the teacher and both students
    changed = FakePaper(tmp_path)
    changed.profiles = {n: p.replace(teacher_lr=2e-3) for n, p in FakePaper.profiles.items()}
    reproduce(changed, profile="quick", device="cpu", runs_dir=tmp_path, progress=False)
    assert [rid for rid, _ in rec.calls] == ["teacher", "student", "student2"]


def test_helper_run_near_chance_is_an_error(
    tmp_path: Path, fake_needs: list[dict[str, str]]
) -> None:
    assert check_helper("t", {"clean_acc": 50.0}, 10) == 50.0
    with pytest.raises(HelperRunError, match=r"'sub' ended at 14.00 % .*chance \(10.00 %\)"):
        check_helper("sub", {"train/clean_acc": 14.0}, 10)
    paper = FakePaper(tmp_path)
    paper.profiles = {n: p.replace(teacher_lr=1e-9) for n, p in FakePaper.profiles.items()}
    with pytest.raises(HelperRunError, match="helper run 'teacher' ended at"):
        reproduce(paper, profile="quick", device="cpu", runs_dir=tmp_path, progress=False)


def test_render_true_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="render_report"):
        reproduce(FakePaper(tmp_path), profile="quick", runs_dir=tmp_path, render=True)


# ------------------------------------------------------------------ paper subcommands


class CommandPaper(FakePaper):
    name = "cmdpaper"

    def cli(self, subparsers: argparse._SubParsersAction[Any]) -> None:
        p = subparsers.add_parser("tau-search", help="search a temperature")
        p.add_argument("--tau", type=float, default=1.0)
        p.set_defaults(func=lambda args: 0 if args.tau > 0 else 3)


def test_paper_subcommands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(plugins._loaded, "cmdpaper", CommandPaper(tmp_path))
    monkeypatch.setitem(plugins._loaded, "fakepaper", FakePaper(tmp_path))  # no commands
    monkeypatch.setitem(plugins._loaded, "eval", CommandPaper(tmp_path))  # clashes: skipped
    assert main(["cmdpaper", "tau-search", "--tau", "2"]) == 0
    assert main(["cmdpaper", "tau-search", "--tau", "-1"]) == 3
    with pytest.raises(SystemExit):
        main(["fakepaper", "tau-search"])
    with pytest.raises(SystemExit):
        main(["eval", "tau-search"])
    capsys.readouterr()
