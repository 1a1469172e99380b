"""Every installed method of the plan trains and evaluates end to end on a tiny digits-28 slice."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.core.compare import Budget, build_plan, compare

TINY = Budget("quick", "quick", 3, 16, 0.2, 256, 16, 4, 1, seed=3, dataset="digits-28")


@pytest.mark.slow
def test_every_installed_method_runs_on_a_tiny_slice(tmp_path: Path) -> None:
    installed = [p.entry.label for p in build_plan(TINY) if p.installed]
    paths = compare(TINY, runs_dir=tmp_path, device="cpu", progress=False)
    csv = paths["csv"].read_text()
    for label in installed:
        assert f",{label}," in csv, label
