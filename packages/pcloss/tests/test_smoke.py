"""Smoke reproduction of Table 1 (FMNIST column) through core's reproduce, on a data slice."""

from __future__ import annotations

from pathlib import Path

import pytest

import robustlab.core.train as core_train
from robustlab.core.data import find
from robustlab.core.report import render_report
from robustlab.core.repro import reproduce
from robustlab.pcloss.defaults import PROFILES, QUICK
from robustlab.pcloss.paper import PCLossPaper
from robustlab.pcloss.suites import AttackSettings

TINY = QUICK.replace(
    T_gray=2,
    n_train=3000,
    n_eval=200,
    precision="fp32",
    attacks=AttackSettings(
        bim_steps=2, pgd_steps=2, mim_steps=2, cw_steps=5, cw_search_steps=1, apgd_steps=5
    ),
    description="smoke test: 3k train / 200 test, 2 epochs per phase, 2-step attacks",
)


class SmokePaper(PCLossPaper):
    """The real paper with a tiny budget in place of the quick profile."""

    profiles = {**PROFILES, "quick": TINY}  # noqa: RUF012


@pytest.mark.slow  # ~8 min on the loaded 2-core machine (AutoAttack beside every claim)
def test_smoke_reproduction_of_table1(tmp_path: Path, one_thread: None) -> None:
    if find("fashion-mnist", "train", None)[0] is None:
        pytest.skip("Fashion-MNIST is not on disk (robustlab data ensure fashion-mnist)")
    report = reproduce(
        SmokePaper(),
        tables=["1"],
        profile="quick",
        device="cpu",
        runs_dir=tmp_path,
        progress=False,
        render=render_report,
    )
    (table,) = report.tables
    assert table.spec.id == "1"
    measured = {c.cell.ref: c.ours for c in table.cells}
    # 14 printed rows x 2 columns + (3 BIM step eps/10 + 6 margin-loss) added rows x 2
    assert len(measured) == 28 + 18
    assert all(v is not None and 0 <= v <= 100 for v in measured.values())
    for column in ("FMNIST/CE", "FMNIST/Ours"):  # trained, not chance (10 %)
        assert measured[("1", "Clean", column)] > 40
    verdicts = {c.claim.id: c.verdict for c in table.claims}
    assert set(verdicts) == {
        "t1-fmnist-ours-gt-ce",
        "t1-fmnist-ours-gt-ce+margin",
        "t1-fmnist-clean-comparable",
        "t1-fmnist-ours-bim-falls-literal",
        "t1-fmnist-ours-bim-falls-eps10",
    }
    assert set(verdicts.values()) <= {"holds", "fails", "inconclusive"}
    assert report.paths and Path(report.paths["md"]).exists()
    runs = tmp_path / "pcloss" / "quick" / "_runs"
    assert sorted(p.name for p in runs.iterdir()) == ["fmnist-lenet5-ce", "fmnist-lenet5-pc"]
    assert (runs / "fmnist-lenet5-pc" / "train-2").is_dir()  # CE warm-up then PC phase

    # a second call finds the finished runs and trains nothing
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was trained again")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core_train, "train", no_training)
        again = reproduce(
            SmokePaper(),
            tables=["1"],
            profile="quick",
            device="cpu",
            runs_dir=tmp_path,
            progress=False,
        )
    assert {c.cell.ref: c.ours for c in again.tables[0].cells} == measured
