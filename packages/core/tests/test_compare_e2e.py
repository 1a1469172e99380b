"""Toy end-to-end comparison: 2 tiny natural runs on digits-28, through runner, store and report."""

from __future__ import annotations

import json
from pathlib import Path

from robustlab.core.compare import ENTRIES, Budget, compare
from robustlab.core.compare.study import NAME
from robustlab.core.repro.store import profile_dir, run_dir

TOY = Budget("quick", "quick", 1, 32, 0.05, 96, 32, 16, 2, seed=3, dataset="digits-28")


def test_toy_comparison_end_to_end(tmp_path: Path) -> None:
    natural = [e for e in ENTRIES if e.family == "natural"]
    installed = ["natural", "label-smoothing"]  # the paper methods act as "not installed"
    paths = compare(
        TOY, runs_dir=tmp_path, device="cpu", progress=False, installed=lambda: installed,
        entries=natural,
    )  # fmt: skip
    pdir = profile_dir(tmp_path, NAME, "quick")
    for rid in ("nat-ce", "nat-label-smoothing"):
        assert (run_dir(pdir, rid) / "metrics.json").is_file()
        assert (run_dir(pdir, rid) / "aa_Linf_eps=0.1.json").is_file()
    md = paths["md"].read_text()
    assert "## Natural family (baseline CE)" in md
    assert "| 1 |" in md and "| 2 |" in md and "baseline" in md
    assert "| natural | PC | `pcloss/pc` | pcloss | not installed |" in md
    assert "## Adversarial family" in md and "No finished run." in md
    # every number of a model on the same first aa_n images: clean cut from eval.json to 16
    ev = json.loads((run_dir(pdir, "nat-ce") / "eval.json").read_text())
    bits = ev["robustlab"]["per_example"]["clean"][: TOY.aa_n]
    csv = paths["csv"].read_text().splitlines()
    ce_row = next(r.split(",") for r in csv if ",CE,nat-ce," in r)
    assert float(ce_row[5]) == 100.0 * bits.count("1") / TOY.aa_n
    assert len(csv) == 3 and csv[0].startswith("family,rank,label")
    entry = json.loads(paths["model:nat-ce"].read_text())
    assert entry["eps"] == "0.1" and entry["robustlab"]["n"] == 16
    assert float(entry["autoattack_acc"]) <= float(entry["clean_acc"])
    assert paths["pareto_clean_vs_autoattack"].is_file()
    assert "data:image/png;base64," in paths["html"].read_text()
    # finished runs are reused: a second call trains nothing and reports the same numbers
    again = compare(
        TOY, runs_dir=tmp_path, device="cpu", progress=False, installed=lambda: installed,
        entries=natural, train=False,
    )  # fmt: skip
    assert again["csv"].read_text().splitlines() == csv
