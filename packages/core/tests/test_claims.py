"""Claim verdicts: tests per measurement kind, n-dependence, AutoAttack verdicts, flags, marks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from robustlab.core.repro.autoattack import aa_file, aa_metric
from robustlab.core.repro.claims import Measurement, evaluate_claim
from robustlab.core.repro.results import build_tables, cell_result
from robustlab.core.repro.spec import Cell, Claim, Comparison, TableSpec

PC, CE = ("1", "PGD", "Ours"), ("1", "PGD", "CE")


def outcomes(n: int, right: int, offset: int = 0) -> tuple[bool, ...]:
    """n outcomes with ``right`` correct ones starting at ``offset`` (cyclic)."""
    return tuple((i - offset) % n < right for i in range(n))


def claim(op: str = ">", margin: float = 0.0, mode: str = "all") -> Claim:
    return Claim("c", "PC > CE", "1", (Comparison(PC, op, CE, margin),), mode)  # type: ignore[arg-type]


def test_paired_claim_turns_inconclusive_when_n_shrinks() -> None:
    # PC right on the first 600 of 1000 images, CE on the first 500: b = 100, c = 0
    big = {
        PC: Measurement(60.0, 1000, "fmnist", outcomes(1000, 600)),
        CE: Measurement(50.0, 1000, "fmnist", outcomes(1000, 500)),
    }
    res = evaluate_claim(claim(), big, {PC: 1.0, CE: 0.0})
    assert res.verdict == "holds" and res.paper_verdict == "holds"
    d = res.details[0]
    assert d.test is not None and d.test.test == "McNemar exact"
    assert d.test.discordant == (100, 0) and d.p == pytest.approx(0.5**100)
    # the same rates on 10 images: b = 1, c = 0 -> p = 1/2
    small = {
        PC: Measurement(60.0, 10, "fmnist", outcomes(10, 6)),
        CE: Measurement(50.0, 10, "fmnist", outcomes(10, 5)),
    }
    res = evaluate_claim(claim(), small, {})
    assert res.verdict == "inconclusive" and res.details[0].p == pytest.approx(0.5)
    assert res.paper_verdict == "not measured"


def test_opposite_direction_fails_and_equal_is_inconclusive() -> None:
    values = {
        PC: Measurement(10.0, 200, "x", outcomes(200, 20)),
        CE: Measurement(40.0, 200, "x", outcomes(200, 80)),
    }
    assert evaluate_claim(claim(), values, {}).verdict == "fails"
    same = {PC: values[PC], CE: values[PC]}
    res = evaluate_claim(claim(), same, {})
    assert res.verdict == "inconclusive" and res.details[0].p == 1.0


def test_different_images_fall_back_to_unpaired_test() -> None:
    values = {
        PC: Measurement(60.0, 1000, "fmnist", outcomes(1000, 600)),
        CE: Measurement(50.0, 500, "fmnist", outcomes(500, 250)),
    }
    d = evaluate_claim(claim(), values, {}).details[0]
    assert d.test is not None and "unpaired" in d.test.test
    other = {**values, CE: Measurement(50.0, 1000, "mnist", outcomes(1000, 500))}
    d = evaluate_claim(claim(), other, {}).details[0]
    assert d.test is not None and "unpaired" in d.test.test


def test_margin_uses_paired_z_and_seeds_use_paired_t() -> None:
    # "within 1.5 points": 59.0 vs 60.0 on 10,000 images with few discordant -> non-inferior
    lhs = outcomes(10000, 5900)
    rhs = outcomes(10000, 6000)
    values = {PC: Measurement(59.0, 10000, "x", lhs), CE: Measurement(60.0, 10000, "x", rhs)}
    d = evaluate_claim(claim(">=", -1.5), values, {}).details[0]
    assert d.test is not None and d.test.test == "paired z (margin)" and d.verdict == "holds"
    seeded = {
        PC: Measurement(82.0, 1000, "x", seeds=(82.0, 82.2, 81.8)),
        CE: Measurement(81.0, 1000, "x", seeds=(81.0, 81.1, 80.9)),
    }
    d = evaluate_claim(claim(), seeded, {}).details[0]
    assert d.test is not None and d.test.test == "paired t (3 seeds)"
    assert d.effect == pytest.approx(1.0)
    assert Measurement(82.0, 1000, seeds=(82.0, 82.2, 81.8)).std == pytest.approx(0.2)


def test_any_mode_is_holm_corrected() -> None:
    comps, values = [], {}
    for i in range(10):  # one comparison with b = 6, c = 0 (p 1/64), nine with nothing
        a, b = ("1", f"r{i}", "Ours"), ("1", f"r{i}", "CE")
        comps.append(Comparison(a, ">", b))
        right = 56 if i == 0 else 50
        values[a] = Measurement(right, 100, "x", outcomes(100, right))
        values[b] = Measurement(50.0, 100, "x", outcomes(100, 50))
    any_claim = Claim("any", "some row", "1", tuple(comps), "any")
    res = evaluate_claim(any_claim, values, {})
    assert res.details[0].verdict == "holds"  # alone: p = 1/64 < 0.05
    assert res.details[0].p_adjusted == pytest.approx(10 / 64)
    assert res.verdict == "inconclusive"


def test_within_mark_only_at_budget_and_both_zero() -> None:
    cell = Cell("1", "PGD", "CE", "r", "acc/PGD", 0.2, kind="robust")
    quick = cell_result(cell, 0.3, at_budget=False)
    assert quick.within is None and quick.both_zero
    full = cell_result(cell, 0.3)
    assert full.within is None and full.both_zero  # never "agreement"
    real = cell_result(Cell("1", "PGD", "CE", "r", "acc/PGD", 40.0), 42.0)
    assert real.within is True and not real.both_zero
    assert (
        cell_result(Cell("1", "PGD", "CE", "r", "acc/PGD", 40.0), 42.0, at_budget=False).within
        is None
    )


# ------------------------------------------------------------- a fake run store


def write_run(
    rdir: Path,
    accs: dict[str, tuple[bool, ...]],
    aa: tuple[bool, ...] | None,
    flags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An evaluated run directory: eval.json (+ AutoAttack file) and its state for build_tables."""
    rdir.mkdir(parents=True)
    attacks = [{"label": lb, "attack": "pgd", "kwargs": {"eps": 0.1}} for lb in accs]
    body = {
        "attacks": attacks,
        "per_example": {lb: "".join("1" if b else "0" for b in v) for lb, v in accs.items()},
        "flags": flags or {},
    }
    (rdir / "eval.json").write_text(json.dumps({"robustlab": body}))
    metrics = {f"acc/{lb}": 100.0 * sum(v) / len(v) for lb, v in accs.items()}
    if aa is not None:
        aa_body = {"per_example": {"AutoAttack": "".join("1" if b else "0" for b in aa)}}
        (rdir / aa_file(0.1, "Linf")).write_text(json.dumps({"robustlab": aa_body}))
        metrics[aa_metric(0.1, "Linf")] = 100.0 * sum(aa) / len(aa)
    metrics["n_eval"] = float(len(next(iter(accs.values()))))
    return {
        "status": "done",
        "metrics": metrics,
        "checks": flags or {},
        "seed_metrics": {},
        "eval_dirs": [rdir],
        "summary": {"eval_dataset": "fashion-mnist"},
    }


def table(claims: tuple[Claim, ...]) -> TableSpec:
    cells = (
        Cell("1", "PGD", "Ours", "pc", "acc/PGD", 60.0),
        Cell("1", "CW", "Ours", "pc", "acc/CW", 55.0),
        Cell("1", "PGD", "CE", "ce", "acc/PGD", 10.0),
        Cell("1", "CW", "CE", "ce", "acc/CW", 5.0),
    )
    return TableSpec("1", "toy", cells, claims)


def test_autoattack_verdict_and_flags_on_fake_run_store(tmp_path: Path) -> None:
    n = 400
    masked = {
        "masked_ce_loss": {
            "passed": False,
            "detail": "masked: CE loss: PGD 35% vs CW 1%",
            "ce_labels": ["PGD"],
        }
    }
    runs = {
        "pc": write_run(
            tmp_path / "pc", {"PGD": outcomes(n, 240), "CW": outcomes(n, 200)}, aa=outcomes(n, 0)
        ),
        "ce": write_run(
            tmp_path / "ce",
            {"PGD": outcomes(n, 140), "CW": outcomes(n, 4)},
            aa=outcomes(n, 0),
            flags=masked,
        ),
    }
    both = Claim(
        "pc-gt-ce",
        "PC > CE",
        "1",
        (
            Comparison(("1", "PGD", "Ours"), ">", ("1", "PGD", "CE")),
            Comparison(("1", "CW", "Ours"), ">", ("1", "CW", "CE")),
        ),
    )
    cw_only = Claim(
        "cw", "PC > CE under CW", "1", (Comparison(("1", "CW", "Ours"), ">", ("1", "CW", "CE")),)
    )
    res = build_tables([table((both, cw_only))], runs, profile="quick")[0]
    first, second = res.claims
    assert first.verdict == "holds"
    # both attacks at eps 0.1 map to one AutoAttack comparison: 0 % vs 0 % -> inconclusive
    assert first.aa_verdict == "inconclusive" and len(first.aa_details) == 1
    aa = first.aa_details[0]
    assert aa.test is not None and aa.test.test == "McNemar exact" and aa.lhs == 0.0
    assert any("masked: CE loss" in note and "PGD/CE" in note for note in first.notes)
    # the CW-only claim does not rest on the masked CE-loss cell: plain flag note instead
    assert not any("rests on CE-loss" in note for note in second.notes)
    # cells: Wilson interval from n, no tolerance mark in quick
    cell = res.cells[0]
    assert cell.interval is not None and cell.interval[0] < 60.0 < cell.interval[1]
    assert cell.within is None


def test_vectors_that_disagree_with_the_metric_are_not_paired(tmp_path: Path) -> None:
    n = 100
    runs = {
        "pc": write_run(tmp_path / "pc", {"PGD": outcomes(n, 60), "CW": outcomes(n, 50)}, None),
        "ce": write_run(tmp_path / "ce", {"PGD": outcomes(n, 40), "CW": outcomes(n, 30)}, None),
    }
    runs["ce"]["metrics"]["acc/PGD"] = 41.0  # stored vector says 40 %
    c = Claim("c", "x", "1", (Comparison(("1", "PGD", "Ours"), ">", ("1", "PGD", "CE")),))
    d = build_tables([table((c,))], runs)[0].claims[0].details[0]
    assert d.test is not None and "unpaired" in d.test.test


# ------------------------------------------------------------- seeds and AutoAttack wiring


def test_seeded_runs_children_and_aggregate() -> None:
    from robustlab.core.repro.seeds import aggregate, child_spec, seed_id
    from robustlab.core.repro.spec import RunSpec
    from robustlab.core.train import TrainConfig

    cfg = TrainConfig(dataset="fashion-mnist", model="lenet5", method="natural", epochs=1)
    plain = RunSpec("mdl", (cfg,), "pgd20", 100)
    seeded = RunSpec("mdl", (cfg,), "pgd20", 100, seeds=(0, 1, 2))
    assert "seeds" not in plain.to_dict() and seeded.to_dict()["seeds"] == [0, 1, 2]
    child = child_spec(seeded, 2)
    assert child.id == seed_id("mdl", 2) == "mdl+seed2" and child.seeds == ()
    assert child.train[0].seed == 2
    agg = aggregate(
        {
            0: {"clean_acc": 82.0, "n_eval": 100},
            1: {"clean_acc": 82.2, "n_eval": 100},
            2: {"clean_acc": 81.8, "n_eval": 100, "only_here": 1.0},
        }
    )
    assert agg["clean_acc"] == pytest.approx(82.0) and agg["std/clean_acc"] == pytest.approx(0.2)
    assert agg["n_seeds"] == 3 and "only_here" not in agg and "std/n_eval" not in agg
    with pytest.raises(ValueError, match="distinct"):
        RunSpec("x", (cfg,), None, 10, seeds=(1, 1))


def test_mark_autoattack_and_budgets() -> None:
    from robustlab.core.repro.autoattack import budgets, mark_autoattack
    from robustlab.core.repro.spec import RunSpec
    from robustlab.core.train import TrainConfig

    cfg = TrainConfig(dataset="fashion-mnist", model="lenet5", method="natural", epochs=1)
    runs = {r: RunSpec(r, (cfg,), "pgd20", 10) for r in ("pc", "ce", "clean-only")}
    t = TableSpec(
        "1",
        "t",
        (
            Cell("1", "PGD", "Ours", "pc", "acc/PGD", 1.0),
            Cell("1", "Clean", "X", "clean-only", "clean_acc", 1.0, kind="clean"),
        ),
    )
    marked = mark_autoattack([t], runs)
    assert marked["pc"].autoattack and not marked["ce"].autoattack
    assert not marked["clean-only"].autoattack
    attacks = [
        {"label": "a", "attack": "pgd", "kwargs": {"eps": "0.1"}},
        {"label": "b", "attack": "fgsm", "kwargs": {"eps": 0.1}},
        {"label": "c", "attack": "pgd-l2", "kwargs": {"eps": 0.5}},
        {"label": "d", "attack": "cw-l2", "kwargs": {"eps": float("inf")}},
    ]
    assert budgets(attacks) == [(0.1, "Linf"), (0.5, "L2")]


def test_seeded_cells_use_the_seed_test(tmp_path: Path) -> None:
    def seeded(values: list[float]) -> dict[str, Any]:
        per = {str(i): {"clean_acc": v, "n_eval": 1000.0} for i, v in enumerate(values)}
        mean = sum(values) / len(values)
        return {
            "status": "done",
            "metrics": {"clean_acc": mean, "n_eval": 1000.0},
            "checks": {},
            "seed_metrics": per,
            "eval_dirs": [tmp_path / "s0", tmp_path / "s1", tmp_path / "s2"],
            "summary": {"eval_dataset": "x"},
        }

    cells = (
        Cell("3", "Clean", "MDL", "mdl", "clean_acc", 82.1, kind="clean"),
        Cell("3", "Clean", "CE", "ce", "clean_acc", 81.2, kind="clean"),
    )
    c = Claim("mdl", "MDL highest", "3", (Comparison(cells[0].ref, ">", cells[1].ref),))
    runs = {"mdl": seeded([82.0, 82.2, 81.8]), "ce": seeded([81.9, 80.5, 81.5])}
    res = build_tables([TableSpec("3", "t", cells, (c,))], runs, profile="fmnist")[0]
    d = res.claims[0].details[0]
    assert d.test is not None and d.test.test == "paired t (3 seeds)"
    assert res.claims[0].verdict == "inconclusive" and res.claims[0].aa_verdict is None
    assert res.cells[0].std == pytest.approx(0.2)
    lo, hi = res.cells[0].interval or (0.0, 0.0)
    assert lo < 82.0 < hi and hi - lo < 3.0  # pooled over 3 x 1000 images


def test_autoattack_on_fewer_images_than_the_suite_stays_paired(tmp_path: Path) -> None:
    """autoattack_n: AutoAttack vectors of 100 images beside a 400-image suite are still paired."""
    runs = {
        "pc": write_run(
            tmp_path / "pc",
            {"PGD": outcomes(400, 240), "CW": outcomes(400, 200)},
            outcomes(100, 60),
        ),
        "ce": write_run(
            tmp_path / "ce", {"PGD": outcomes(400, 140), "CW": outcomes(400, 4)}, outcomes(100, 10)
        ),
    }
    cw = Claim("cw", "PC > CE", "1", (Comparison(("1", "CW", "Ours"), ">", ("1", "CW", "CE")),))
    (res,) = build_tables([table((cw,))], runs, profile="quick")[0].claims
    (aa,) = res.aa_details
    assert aa.test is not None and aa.test.test == "McNemar exact"
    assert res.aa_verdict == "holds"
