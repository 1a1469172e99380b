"""The comparison plan lists every method; a missing package is "not installed", never dropped."""

from __future__ import annotations

import pytest

from robustlab.core.compare.plan import (
    ALPHA,
    ENTRIES,
    EPS,
    build_plan,
    eval_suite,
    get_budget,
    plan_rows,
)
from robustlab.core.errors import ConfigError

EXPECTED = {
    "natural": ["CE", "Label smoothing", "PC", "I-SCE", "MDL"],
    "adversarial": [
        "Madry-AT", "TRADES", "CTR (Madry-AT)", "CTR (TRADES)", "TRADES+LTD", "LBGAT",
        "D2R-CAG", "PC+AT",
    ],
}  # fmt: skip


def fake_methods_without(*packages: str) -> list[str]:
    """Registered names as if the given paper packages were not installed."""
    return [e.method for e in ENTRIES if e.package not in packages]


def test_plan_lists_every_method_and_marks_missing_packages() -> None:
    plan = build_plan("quick", installed=lambda: fake_methods_without("ltd", "d2r"))
    rows = plan_rows(plan)
    for fam, labels in EXPECTED.items():
        assert [r["label"] for r in rows if r["family"] == fam] == labels
    status = {r["label"]: r["status"] for r in rows}
    assert status["TRADES+LTD"] == status["D2R-CAG"] == "not installed"
    assert {v for k, v in status.items() if k not in ("TRADES+LTD", "D2R-CAG")} == {"planned"}
    assert all((p.spec is None) == (not p.installed) for p in plan)


def test_ltd_teacher_is_the_natural_ce_run_and_not_installed_without_it() -> None:
    plan = {p.entry.label: p for p in build_plan("quick", installed=fake_methods_without)}
    ltd = plan["TRADES+LTD"].spec
    assert ltd is not None and ltd.needs == {"teacher": plan["CE"].entry.run_id}
    # the teacher's method missing -> LTD cannot run either
    names = [n for n in fake_methods_without() if n != "natural"]
    again = {p.entry.label: p for p in build_plan("quick", installed=lambda: names)}
    assert again["TRADES+LTD"].status == "not installed"


def test_one_budget_one_threat_model_for_all() -> None:
    plan = build_plan("quick", installed=fake_methods_without)
    budget = get_budget("quick")
    specs = [p.spec for p in plan if p.spec is not None]
    cfgs = [s.train[0] for s in specs]
    for key in ("epochs", "optimizer", "lr", "seed", "n_train", "batch_size", "dataset"):
        assert len({getattr(c, key) for c in cfgs}) == 1, key
    assert {c.model for c in cfgs} == {"lenet5", "isce/lenet5"}  # I-SCE deviation, listed
    isce = next(r for r in plan_rows(plan) if r["label"] == "I-SCE")
    assert isce["deviations"] and "isce/lenet5" in isce["deviations"][0]
    for p in plan:
        if p.entry.family == "adversarial" and "eps" in p.entry.opts:
            assert p.entry.opts["eps"] == EPS and p.entry.opts["alpha"] == ALPHA
    suite = eval_suite(budget)
    assert [a.kwargs["eps"] for a in suite.attacks] == [EPS, EPS]
    assert [a.kwargs["loss"] for a in suite.attacks] == ["ce", "cw"]
    assert all(s.autoattack and s.autoattack_n == budget.aa_n for s in specs)
    assert len({s.n_eval for s in specs}) == 1


def test_every_registered_name_and_option_is_accepted() -> None:
    """Against the real registry: each installed method builds with the plan's options."""
    from robustlab.core.train import METHODS

    for p in build_plan("quick"):
        if p.installed:
            METHODS.build(p.entry.method, **p.entry.opts)


def test_unknown_budget() -> None:
    with pytest.raises(ConfigError, match="valid: quick, full"):
        build_plan("huge", installed=list)


def test_cli_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from robustlab.core.cli import main

    assert main(["compare", "--budget", "quick", "--plan"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == EXPECTED["natural"] + EXPECTED["adversarial"]
    assert {r["status"] for r in rows} <= {"planned", "not installed"}
