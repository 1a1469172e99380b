"""Selection rules of the two-step temperature search (section 4.3), on Table 6's numbers."""

from __future__ import annotations

import pytest

from robustlab.core.errors import ConfigError
from robustlab.ltd import TABLE6_TAUS, select_tau_best, select_tau_max, taus_up_to

# Table 6 (acc_nat, acc_AA) of TRADES+LTD; tau = 50 has no AA value ("*")
TABLE6 = {
    1.0: (84.51, 54.38),
    2.0: (84.96, 54.90),
    3.0: (85.48, 55.03),
    5.0: (86.20, 55.09),
    8.0: (85.23, 54.63),
    10.0: (84.72, 53.56),
    12.0: (77.45, 43.85),
    15.0: (94.72, 0.00),
    20.0: (94.39, 0.00),
}


def test_step2_on_table6_picks_tau_5() -> None:
    assert select_tau_best(TABLE6) == 5.0
    assert select_tau_best(TABLE6, tau_max=3.0) == 3.0


def test_step2_ties_go_to_clean_then_lower_tau() -> None:
    assert select_tau_best({1.0: (80.0, 50.0), 2.0: (81.0, 50.0)}) == 2.0
    assert select_tau_best({1.0: (80.0, 50.0), 2.0: (80.0, 50.0)}) == 1.0


def test_step1_highest_passing_tau_not_first_failure() -> None:
    nat = {1.0: 90.0, 5.0: 89.0, 12.0: 80.0, 20.0: 88.5, 50.0: 86.63}
    assert select_tau_max(nat, threshold=88.0) == 20.0
    assert select_tau_max(nat, threshold=86.63) == 50.0  # "at least" the threshold
    with pytest.raises(ValueError, match="no tau reaches"):
        select_tau_max(nat, threshold=95.0)
    with pytest.raises(ValueError, match="percent"):
        select_tau_max({1.0: 0.9}, threshold=101.0)


def test_grid_is_table6_within_range() -> None:
    assert taus_up_to(TABLE6_TAUS, 10.0) == [1.0, 2.0, 3.0, 5.0, 8.0, 10.0]
    with pytest.raises(ConfigError, match=">= 1"):
        taus_up_to(TABLE6_TAUS, 0.5)
