"""``robustlab ltd tau-search`` (section 4.3) end to end on a tiny digits-28 budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.ltd.cli import tau_search
from robustlab.ltd.defaults import QUICK

TINY = QUICK.replace(
    dataset="digits-28",
    model="lenet5",
    n_train=96,
    teacher_epochs=2,
    epochs=1,
    steps=1,
    n_eval=32,
    batch_size=32,
)


@pytest.mark.slow
def test_tau_search_two_steps(tmp_path: Path, one_thread: None) -> None:
    out = tau_search(
        TINY, [1.0, 4.0, 30.0], threshold=0.0, suite="fgsm", runs_dir=tmp_path, device="cpu"
    )
    assert set(out["natural"]) == {1.0, 4.0, 30.0}
    assert out["tau_max"] == 30.0  # threshold 0: every natural-only student passes
    assert set(out["results"]) == {"TRADES", 1.0, 4.0, 30.0}
    assert out["tau_best"] in (1.0, 4.0, 30.0)
    best = out["results"][out["tau_best"]][1]
    assert best == max(v[1] for k, v in out["results"].items() if k != "TRADES")
    assert "| T=4.0" in out["table"] and "| TRADES |" in out["table"]
    root = tmp_path / "ltd" / "tau-search" / "quick"
    assert (root / "teacher" / "metrics.json").exists()
    assert (root / "natural-t4" / "metrics.json").exists()
    # an unreachable threshold is an error naming the problem (step 1 finds no tau)
    with pytest.raises(ValueError, match="no tau reaches"):
        tau_search(TINY, [1.0], threshold=100.0, suite="fgsm", runs_dir=tmp_path, device="cpu")
