"""How much early stop changes PC-loss Table 1 / 3 accuracies, on the same images and models.

The fmnist and paper profiles score the iterative attacks (BIM, PGD, MIM, CW-Linf, APGD-DLR) and
SPSA at the first fooling iterate (``AttackSettings.early_stop``, ``spsa_early_stop``); the paper's
code (advertorch) scores the last iterate. This script evaluates the trained models of a
reproduction's run store both ways on the first ``--n`` test images and writes, per model and
row, both accuracies, their difference and both attack times::

    python packages/pcloss/scripts/compare_early_stop.py \\
        --runs-dir /tmp/fm/runs/pcloss/fmnist --n 1000 --out early_stop.json

Needs a finished fmnist reproduction (``robustlab reproduce pcloss --profile fmnist``) in
``--runs-dir``. The result is quoted in the pcloss README ("Results").
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from robustlab.core.data import load
from robustlab.core.eval import Suite, evaluate
from robustlab.core.train import load_run
from robustlab.core.utils import atomic_write_json
from robustlab.pcloss.suites import (
    GRAY_EPS,
    AttackSettings,
    bim_eps10_specs,
    margin_specs,
    row_spec,
)

log = logging.getLogger("compare_early_stop")


def suite(early_stop: bool) -> Suite:
    """Table 1's iterative rows at eps 0.1-0.3, the added margin / BIM-eps/10 rows and SPSA."""
    s = AttackSettings(early_stop=early_stop, spsa_early_stop=early_stop)
    rows = [f"{a} eps={e}" for a in ("BIM", "PGD", "MIM") for e in GRAY_EPS] + ["SPSA eps=0.3"]
    specs = [row_spec(r, s) for r in rows]
    specs += bim_eps10_specs(GRAY_EPS, s) + margin_specs(GRAY_EPS, s)
    return Suite(f"early-stop-{early_stop}", specs, worst_case=False)


def final_phase(run: Path) -> Path:
    """The run directory of a run's last training phase (``train`` or ``train-N``)."""
    phases = sorted(run.glob("train*"), key=lambda p: int(p.name.partition("-")[2] or 1))
    if not phases:
        raise FileNotFoundError(f"{run} holds no training phase; reproduce the profile first")
    return phases[-1]


def compare(runs_dir: Path, n: int, models: list[str]) -> dict[str, Any]:
    """Per model: {row: {"last": acc, "early_stop": acc, "delta": ..., seconds}}."""
    data = load("fashion-mnist", "test", n=n)
    out: dict[str, Any] = {"n": n}
    for rid in models:
        model = load_run(final_phase(runs_dir / "_runs" / rid), device="cpu").model
        res = {}
        for es in (False, True):
            log.info("%s: early_stop=%s on %d images", rid, es, n)
            res[es] = evaluate(model, (data.x, data.y), suite(es), batch_size=1000, checks=False)
        rows: dict[str, Any] = {}
        for label, last in res[False].robust_acc.items():
            first = res[True].robust_acc[label]
            rows[label] = {
                "last_iterate": round(last, 2),
                "early_stop": round(first, 2),
                "delta": round(first - last, 2),
                "seconds_last_iterate": round(res[False].times[label], 1),
                "seconds_early_stop": round(res[True].times[label], 1),
            }
        deltas = [abs(r["delta"]) for r in rows.values()]
        out[rid] = {"clean": res[False].clean_acc, "max_abs_delta": max(deltas), "rows": rows}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--models", default="fmnist-lenet5-ce,fmnist-lenet5-pc")
    parser.add_argument("--out", type=Path, default=Path("early_stop.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = compare(args.runs_dir, args.n, args.models.split(","))
    atomic_write_json(args.out, result)
    log.info("%s", json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
