"""The method and paper contracts over every registered training method and installed paper.

Paper packages run the same contracts on their own entries (``packages/<paper>/tests/
test_conformance.py``); here every name in the registries is covered, paper entries included.
"""

from __future__ import annotations

from typing import Any

import pytest

from robustlab.core.errors import ConfigError
from robustlab.core.plugins import load_paper_plugins
from robustlab.core.testing import MethodCase, MethodContract, PaperContract
from robustlab.core.train import METHODS

#: Paper packages whose methods need a case only the package can build (a teacher run, a model with
#: the paper's own head, a guide) subclass MethodContract in their own suites (packages/<name>/tests).
OWN_CASES = ("ltd/", "isce/", "d2r/")

#: Every registered training method (core's and the installed paper packages').
ALL_METHODS = [n for n in METHODS.names() if not n.startswith(OWN_CASES)]
PAPERS = load_paper_plugins()


#: Smaller parts where a method's default is costly on CPU (LBGAT's guide is a ResNet-18).
SMALL = {"lbgat": {"guide_model": "lenet5"}}


def fast_opts(name: str) -> dict[str, Any]:
    """Two attack steps for the adversarial methods (the rest train as configured)."""
    opts = dict(SMALL.get(name, {}))
    try:
        METHODS.build(name, steps=2, **opts)
    except ConfigError:
        return opts
    return {"steps": 2, **opts}


class TestEveryRegisteredMethod(MethodContract):
    @pytest.fixture(params=ALL_METHODS)
    def method_case(self, request: pytest.FixtureRequest) -> MethodCase:
        return MethodCase(request.param, fast_opts(request.param))


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_every_installed_paper_keeps_the_paper_contract(name: str) -> None:
    """The paper contract's static checks for each installed paper package."""

    class _Check(PaperContract):
        paper = PAPERS[name]

    check = _Check()
    check.test_every_profile_passes_check_paper()
    check.test_every_cell_maps_to_a_metric_of_its_run()
    check.test_claims_compare_cells_of_the_same_profile()
