"""The package skeleton: version, exports, the shipped published tables (package data)."""

from __future__ import annotations

from importlib import resources

import robustlab.d2r
from robustlab.core.repro import load_published


def published() -> list:
    return load_published(resources.files("robustlab.d2r") / "data" / "d2r.csv")


def test_version_and_exports() -> None:
    assert robustlab.d2r.__version__ == "0.2.0"
    for name in robustlab.d2r.__all__:
        assert hasattr(robustlab.d2r, name), name


def test_published_tables_ship_all_132_cells() -> None:
    cells = published()
    assert len(cells) == 132
    assert {c.table for c in cells} == {"1", "2"}
    assert sum(c.table == "1" for c in cells) == 96 and sum(c.table == "2" for c in cells) == 36
    by_ref = {(c.table, c.row, c.column): c for c in cells}
    assert by_ref[("1", "LBGAT [1] (baseline)", "CIFAR-10/AA")].value == 52.23
    assert by_ref[("1", "D2R-CAG (ours)", "CIFAR-10/AA")].value == 54.65
    assert by_ref[("2", "D2R (alpha=30, beta=20)", "PGD-20")].value == 56.88
    assert by_ref[("2", "D2R-CAG (alpha=30, beta=20)", "AA")].value == 54.65
    missing = by_ref[("1", "RAT(TRADES) [6]", "CIFAR-10/PGD-50")]
    assert missing.value is None and missing.raw == "-"


def test_table2_rows_and_columns() -> None:
    t2 = [c for c in published() if c.table == "2"]
    assert sorted({c.column for c in t2}) == sorted(
        ["Clean", "PGD-10", "PGD-20", "PGD-50", "C&W", "AA"]
    )
    assert [c.row for c in t2][::6] == [
        "D2R (alpha=0, beta=1)",
        "D2R (alpha=1, beta=0)",
        "D2R (alpha=20, beta=1)",
        "D2R (alpha=30, beta=1)",
        "D2R (alpha=30, beta=20)",
        "D2R-CAG (alpha=30, beta=20)",
    ]
