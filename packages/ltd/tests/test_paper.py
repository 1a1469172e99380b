"""The plan of each profile (runs, presets, teacher dependency, claims) and a smoke reproduction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from robustlab.core.repro import Profile, dependency_order
from robustlab.ltd.paper import PAPER, LTDPaper


def test_students_need_the_one_teacher() -> None:
    runs = PAPER.runs("quick")
    assert list(runs) == ["teacher", "trades", "ltd-t1", "ltd-t5", "ltd-t20"]
    assert dependency_order(runs, list(runs)).count("teacher") == 1
    assert all(runs[r].needs == {"teacher": "teacher"} for r in ("ltd-t1", "ltd-t5", "ltd-t20"))
    assert runs["trades"].needs == {} and runs["teacher"].suite is None
    teacher = runs["teacher"].train[0]
    student = runs["ltd-t5"].train[0]
    assert teacher.method == "natural" and teacher.model == student.model == "ltd/lenet5-bn"
    assert student.method == "ltd/trades-ltd" and student.method_opts["tau"] == 5.0


def test_trades_baseline_differs_from_ltd_only_in_the_natural_term() -> None:
    for profile in ("quick", "fmnist", "paper"):
        runs = PAPER.runs(profile)
        base, ltd = runs["trades"].train[0], runs["ltd-t5"].train[0]
        extra = {k: v for k, v in ltd.method_opts.items() if base.method_opts.get(k) != v}
        assert extra == {"tau": 5.0, "bn_order": "nat-adv"}
        assert base.to_dict() | {"method": "", "method_opts": {}, "needs": {}} == (
            ltd.to_dict() | {"method": "", "method_opts": {}, "needs": {}}
        )


def test_paper_profile_is_the_published_recipe() -> None:
    runs = PAPER.runs("paper")
    cfg = runs["ltd-t5"].train[0]
    assert (cfg.model, cfg.epochs, cfg.lr, cfg.nesterov, cfg.weight_decay) == (
        "wrn-34-10",
        120,
        0.1,
        True,
        5e-4,
    )
    assert cfg.schedule_opts["milestones"] == [80, 100]
    opts = cfg.method_opts
    assert (opts["steps"], opts["eps"], opts["alpha"], opts["beta"]) == (8, 8 / 255, 2 / 255, 6.0)
    assert runs["awp-ltd"].train[0].method == "ltd/awp-ltd"
    assert {"ltd-t50", "ltd-t5-adv"} <= set(runs)


def test_claims_cover_the_headline_in_every_profile() -> None:
    for profile in ("quick", "fmnist", "paper"):
        ids = {c.id for t in PAPER.tables(profile) for c in t.claims}
        assert {"t4-square-adds-nothing", "t6-ltd-beats-trades", "t6-high-tau-collapses"} <= ids
    assert "t5-order-irrelevant" not in {c.id for t in PAPER.tables("quick") for c in t.claims}
    t1 = next(t for t in PAPER.tables("paper") if t.id == "1")
    assert "Addepalli et al. (2021) (WRN-34-10): acc_nat 85.32" in t1.note  # not re-run, shown


def test_quick_fits_its_stated_budget() -> None:
    p = PAPER.profile("quick")
    assert p.n_train * p.epochs * (p.steps + 2) * len(PAPER.runs("quick")) <= 1_000_000
    assert p.n_eval <= 200


@pytest.mark.slow
def test_smoke_reproduction(tmp_path: Path) -> None:
    """Teacher + TRADES + TRADES-LTD on a slice; the teacher is trained once and shared.

    AutoAttack on robust survivors dominates the time (296 s measured at eps 0.1 under load 11),
    hence the large eps of this smoke budget."""
    from robustlab.core.report import render_report
    from robustlab.core.repro import reproduce

    small = PAPER.profile("quick").replace(
        n_train=1024,
        teacher_epochs=2,
        epochs=1,
        steps=2,
        taus=(5.0,),
        n_eval=16,
        eps=0.3,
        alpha=0.1,
    )  # eps 0.3: APGD-CE breaks (nearly) every image, so AutoAttack's later attacks cost ~nothing

    class Smoke(LTDPaper):
        profiles: ClassVar[dict[str, Profile]] = {**PAPER.profiles, "quick": small}

    report = reproduce(
        Smoke(),
        profile="quick",
        device="cpu",
        runs_dir=tmp_path,
        progress=False,
        render=render_report,
    )
    pdir = tmp_path / "ltd" / "quick"
    snap = json.loads((pdir / "tables.json").read_text())
    assert snap["runs"]["teacher"]["helper"] is True
    assert snap["runs"]["ltd-t5"]["needs"] == {"teacher": "teacher"}
    cfg = json.loads((pdir / "_runs" / "ltd-t5" / "train" / "config.json").read_text())
    assert cfg["needs"]["teacher"].endswith("_runs/teacher/train")
    claims = {c.claim.id: c for t in report.tables for c in t.claims}
    assert claims["t6-ltd-beats-trades"].aa_verdict is not None
    assert Path(report.paths["md"]).exists()
