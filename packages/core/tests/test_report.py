"""Reports, figures, claims and the cross-paper comparison, on runs directories written directly.

No training here: finished runs are written with the store's own writers (config.json,
checkpoint file, metrics.json), exactly as the runner leaves them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from robustlab.core.cli import main
from robustlab.core.report import render_compare, render_report
from robustlab.core.report.figures import eps_series, robust_value, split_eps
from robustlab.core.repro import (
    Cell,
    Claim,
    Comparison,
    RunSpec,
    TableSpec,
    collect,
    evaluate_claim,
    load_published,
    parse_value,
)
from robustlab.core.repro.snapshot import write_snapshot
from robustlab.core.repro.store import profile_dir, run_dir, write_run_config, write_run_metrics
from robustlab.core.train import TrainConfig

CE, PC = ("1", "PGD eps=0.1", "CE"), ("1", "PGD eps=0.1", "PC")


class FakePaper:
    """A duck-typed paper: identity + describe_profile (tables/runs passed to the writers)."""

    def __init__(self, name: str) -> None:
        self.name, self.title, self.authors, self.venue = (
            name,
            f"{name} paper",
            "A. Author",
            "Venue 2020",
        )
        self.url = ""

    def describe_profile(self, profile: str) -> str:
        return f"{profile} budget of {self.name}"


def spec(rid: str, method: str, suite: str = "pgd20") -> RunSpec:
    cfg = TrainConfig(dataset="fashion-mnist", model="lenet5", method=method, epochs=2)
    return RunSpec(rid, (cfg,), suite, n_eval=100)


def table() -> TableSpec:
    cells = (
        Cell("1", "Clean", "CE", "ce", "clean_acc", 90.0, kind="clean"),
        Cell("1", "Clean", "PC", "pc", "clean_acc", 89.0, kind="clean"),
        Cell(*CE, "ce", "acc/PGD eps=0.1", 40.0),
        Cell(*PC, "pc", "acc/PGD eps=0.1", 70.0, tolerance=2.0),
        Cell("1", "PGD eps=0.2", "PC", "pc", "acc/PGD eps=0.2", None),
    )
    claims = (
        Claim("pc-beats-ce", "PC > CE under PGD", "1", (Comparison(PC, ">", CE),)),
        Claim(
            "ce-clean",
            "CE at least as clean as PC",
            "1",
            (Comparison(cells[0].ref, ">=", cells[1].ref),),
        ),
    )
    return TableSpec("1", "White-box accuracy", cells, claims)


def write_runs(root: Path, paper: str, profile: str, metrics: dict[str, dict[str, float]]) -> Path:
    """A runs directory for ``paper``: snapshot + finished runs with ``metrics`` (others missing)."""
    runs = {"ce": spec("ce", "natural"), "pc": spec("pc", f"{paper}/pc")}
    pdir = profile_dir(root, paper, profile)
    write_snapshot(
        pdir, FakePaper(paper), profile, [table()], runs, {"python": "3", "device": "cpu"}
    )
    for rid, values in metrics.items():
        rdir = run_dir(pdir, rid)
        write_run_config(rdir, runs[rid], {})
        (rdir / "train").mkdir()
        (rdir / "train" / "model.safetensors").write_bytes(b"weights")
        write_run_metrics(rdir, runs[rid], values, rdir / "train" / "model.safetensors")
    return pdir


MEASURED = {
    "ce": {"clean_acc": 91.0, "acc/PGD eps=0.1": 45.0, "acc/PGD eps=0.2": 10.0, "n_eval": 100},
    "pc": {"clean_acc": 88.0, "acc/PGD eps=0.1": 60.0, "acc/PGD eps=0.2": 30.0, "n_eval": 100},
}


def test_report_paper_ours_delta_and_verdicts(tmp_path: Path) -> None:
    pdir = write_runs(tmp_path, "pcx", "paper", MEASURED)
    paths = render_report(pdir)
    md = paths["md"].read_text()
    assert "| Clean | CE | 90.00 | 91.00 | [83.8, 95.2] | +1.00 | ±1.5 | ✓ | ce: clean_acc |" in md
    assert "| PGD eps=0.1 | PC | 70.00 | 60.00 | [50.2, 69.1] | -10.00 | ±2 | ✗ |" in md
    assert "| PGD eps=0.2 | PC | – | 30.00 | [21.9, 39.6] | – | – |  |" in md
    # 60/100 vs 45/100 without per-example outcomes: unpaired z, p = 0.017
    assert "**holds** (paper: holds) — PC > CE under PGD" in md
    assert "two-proportion z (unpaired), p 0.0168: holds" in md
    # 91 vs 88 of 100: not significant either way
    assert "**inconclusive** (paper: holds) — CE at least as clean" in md
    assert (
        "| pc-beats-ce | PC > CE under PGD | holds | holds | 0.0168 | +15.00 | not measured | – |"
        in md
    )
    assert (
        "Quick profile" not in md and "paper budget of pcx" in md and "Runs finished:** 2/2" in md
    )
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert (
        len(rows) == 5
        and rows[3]["within_tolerance"] == "False"
        and float(rows[3]["delta"]) == -10.0
    )
    claims = list(csv.DictReader(io.StringIO(paths["claims_csv"].read_text())))
    assert [c["verdict"] for c in claims] == ["holds", "inconclusive"]
    assert float(claims[0]["p"]) == pytest.approx(
        0.5 * math.erfc(0.15 / math.sqrt(0.525 * 0.475 * 0.02) / math.sqrt(2))
    )
    html = paths["html"].read_text()
    assert (
        html.count("data:image/png;base64,") == 3
        and "<link" not in html
        and 'src="http' not in html
    )
    assert {p.name for p in (pdir / "figures").iterdir()} >= {
        "eps_curves.svg",
        "clean_vs_robust.png",
        "table_1.png",
    }


def test_quick_report_warns_and_partial_runs_are_not_measured(tmp_path: Path) -> None:
    pdir = write_runs(tmp_path, "pcx", "quick", {"pc": MEASURED["pc"]})
    report = collect(pdir)
    assert report.runs_done() == 1 and report.runs["ce"]["status"] == "missing"
    assert [c.verdict for c in report.claims] == ["not measured", "not measured"]
    assert [c.paper_verdict for c in report.claims] == ["holds", "holds"]
    md = render_report(report)["md"].read_text()
    assert (
        "NOT comparable to the paper's cells in absolute terms" in md and "about directions" in md
    )
    assert "| Clean | CE | 90.00 | – | – | – |" in md
    assert "| Clean | PC | 89.00 | 88.00 | [80.2, 93.0] | -1.00 | – |  |" in md  # no mark


def test_claim_combination_rules() -> None:
    c1, c2 = Comparison(PC, ">", CE), Comparison(PC, "<", CE, margin=5.0)
    both = {
        "all": Claim("a", "t", "1", (c1, c2)),
        "any": Claim("b", "t", "1", (c1, c2), mode="any"),
    }
    values = {PC: 60.0, CE: 50.0}
    assert evaluate_claim(both["all"], values, values).verdict == "fails"
    assert evaluate_claim(both["any"], values, values).verdict == "holds"
    assert evaluate_claim(both["all"], {PC: 60.0}, values).verdict == "not measured"
    assert evaluate_claim(both["any"], {PC: 60.0}, values).verdict == "not measured"
    assert Comparison(PC, ">", CE, margin=10.0).holds(60.0, 50.0) is False
    assert Comparison(PC, ">=", CE, margin=10.0).holds(60.0, 50.0) is True
    assert Comparison(PC, "<=", CE, margin=-1.0).holds(50.5, 50.0) is True


def test_load_published_keeps_raw_and_rejects_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        'table,row,column,value,note\n1,a,b,85.63%,\n1,a,c,*,"x, y"\n1,b,c,-,\n1,b,d,,\n2,a,b,0.8,\n'
    )
    cells = load_published(path)
    assert [c.value for c in cells] == [85.63, None, None, None, 0.8]
    assert cells[0].raw == "85.63%" and cells[1].raw == "*" and cells[1].note == "x, y"
    assert parse_value(" 99.2 ") == 99.2
    path.write_text("table,row,column,value,note\n1,a,b,abc,\n")
    with pytest.raises(ValueError, match=r"t.csv:2: published value 'abc'"):
        load_published(path)
    path.write_text("table,row,column,value,note\n1,a,b,1,\n1,a,b,2,\n")
    with pytest.raises(ValueError, match="duplicate cell"):
        load_published(path)
    path.write_text("t,r,c,v,n\n")
    with pytest.raises(ValueError, match="header must be"):
        load_published(path)


def test_eps_keys_and_robust_value() -> None:
    assert split_eps("acc/PGD eps=8/255") == ("acc/PGD", pytest.approx(8 / 255))
    assert split_eps("acc/FGSM eps=0.1 (targeted)") == ("acc/FGSM (targeted)", 0.1)
    assert split_eps("clean_acc") is None
    series = eps_series(
        {"clean_acc": 90.0, "acc/PGD eps=0.2": 5.0, "acc/PGD eps=0.1": 40.0, "acc/CW eps=0.1": 3.0}
    )
    assert series == {"PGD": [(0.0, 90.0), (0.1, 40.0), (0.2, 5.0)]}
    assert robust_value({"acc/a": 3.0, "acc/b": 1.0}) == 1.0
    assert robust_value({"acc/a": 3.0, "worst_case_acc": 2.0}) == 2.0


def test_compare_across_papers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_runs(tmp_path, "pcx", "quick", MEASURED)
    write_runs(tmp_path, "ctx", "quick", {"ce": MEASURED["ce"]})
    paths = render_compare(tmp_path)
    md = paths["md"].read_text()
    assert "3 finished runs of 2 paper(s)" in md and "| ctx | quick | ce | natural |" in md
    assert "| pcx | quick | pc | pcx/pc | lenet5 | 100 | 88.00 | 30.00 | 60.00 | 30.00 |" in md
    assert paths["compare_tm1"].is_file() and "base64," in paths["html"].read_text()
    assert main(["compare", "--runs-dir", str(tmp_path), "--suite", "pgd20"]) == 0
    assert main(["compare", "--runs-dir", str(tmp_path), "--suite", "autoattack"]) == 2
    assert "no finished runs for suite 'autoattack'" in capsys.readouterr().err


def test_failed_sanity_checks_are_shown_not_hidden(tmp_path: Path) -> None:
    pdir = write_runs(tmp_path, "pcx", "quick", MEASURED)
    flags = {
        "logits_finite": {"passed": True, "detail": ""},
        "gradients_nonzero": {"passed": False, "detail": "zero input gradient on 97% of examples"},
    }
    (run_dir(pdir, "pc") / "eval.json").write_text(json.dumps({"robustlab": {"flags": flags}}))
    (run_dir(pdir, "ce") / "eval.json").write_text(
        json.dumps({"robustlab": {"flags": {"logits_finite": {"passed": True}}}})
    )
    paths = render_report(pdir)
    md = paths["md"].read_text()
    assert "## Evaluation sanity checks" in md
    assert "| pc | gradients_nonzero | zero input gradient on 97% of examples |" in md
    assert "logits_finite" not in md.split("## Evaluation sanity checks")[1]
    assert "gradients_nonzero" in paths["html"].read_text()

    (run_dir(pdir, "pc") / "eval.json").write_text(json.dumps({"robustlab": {"flags": {}}}))
    md = render_report(pdir)["md"].read_text()
    assert "All checks passed on the 1 evaluated runs." in md
