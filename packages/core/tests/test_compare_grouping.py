"""Comparing existing runs: grouped by threat model (dataset, norm, eps, suite), never mixed."""

from __future__ import annotations

import json
from pathlib import Path

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.report.compare import collect_runs, render_compare, threat_model_groups
from robustlab.core.repro import RunSpec
from robustlab.core.repro.store import profile_dir, run_dir, write_run_config, write_run_metrics
from robustlab.core.train import TrainConfig


def _spec(rid: str, eps: float, label: str) -> RunSpec:
    cfg = TrainConfig(dataset="fashion-mnist", model="lenet5", method="natural", epochs=1)
    suite = Suite("pgd", [AttackSpec(label, "pgd", {"eps": eps, "steps": 5, "alpha": eps / 4})])
    return RunSpec(rid, (cfg,), suite, n_eval=100)


def _write(root: Path, paper: str, rid: str, eps: float, robust: float) -> None:
    label = f"PGD eps={eps:g}"
    spec = _spec(rid, eps, label)
    rdir = run_dir(profile_dir(root, paper, "quick"), rid)
    write_run_config(rdir, spec, {})
    (rdir / "model.safetensors").write_bytes(b"w")
    metrics = {"clean_acc": 90.0, f"acc/{label}": robust, "worst_case_acc": robust, "n_eval": 100}
    write_run_metrics(rdir, spec, metrics, rdir / "model.safetensors")


def test_two_runs_with_different_eps_never_share_a_column(tmp_path: Path) -> None:
    _write(tmp_path, "pa", "a", 0.1, 20.0)
    _write(tmp_path, "pb", "b", 16 / 255, 55.0)
    _write(tmp_path, "pb", "c", 0.1, 30.0)
    frame = collect_runs(tmp_path)
    assert sorted(frame.eps) == ["0.1", "0.1", "16/255"]
    groups = threat_model_groups(frame)
    assert [g["eps"] for g, _ in groups] == ["0.1", "16/255"]
    for key, sub in groups:
        assert set(sub.eps) == {key["eps"]}  # one eps per group
        acc_cols = [c for c in sub.columns if c.startswith("acc/")]
        assert acc_cols == [f"acc/PGD eps={0.1 if key['eps'] == '0.1' else 16 / 255:g}"]
    assert sorted(groups[0][1].run) == ["a", "c"] and list(groups[1][1].run) == ["b"]
    paths = render_compare(tmp_path)
    md = paths["md"].read_text()
    assert "in 2 threat model(s)" in md
    assert "## 1. fashion-mnist, Linf eps=0.1, suite pgd" in md
    assert "## 2. fashion-mnist, Linf eps=16/255, suite pgd" in md
    section_1 = md.split("## 2.")[0]
    assert "16/255" not in section_1.split("## 1.")[1]  # no eps=16/255 column or row in group 1
    assert paths["compare_tm1"].is_file() and paths["compare_tm2"].is_file()


def test_eval_json_threat_model_wins_and_unknown_is_its_own_group(tmp_path: Path) -> None:
    _write(tmp_path, "pa", "a", 0.1, 20.0)
    _write(tmp_path, "pa", "b", 0.1, 25.0)
    rdir = run_dir(profile_dir(tmp_path, "pa", "quick"), "b")
    (rdir / "eval.json").write_text(json.dumps({"eps": "0.3", "robustlab": {"threat_model": "L2"}}))
    frame = collect_runs(tmp_path)
    keys = [(g["norm"], g["eps"]) for g, _ in threat_model_groups(frame)]
    assert keys == [("L2", "0.3"), ("Linf", "0.1")]
