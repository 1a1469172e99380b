"""Conformance test classes that a package's tests subclass (pytest style).

Each class holds the tests of one contract; a test module subclasses it with a ``Test`` name and
sets the class attributes that say what to test::

    from robustlab.core.testing import AttackContract, MethodContract, PaperContract

    class TestSPGD(AttackContract):
        attack_name = "ctr/s-pgd"
        build_kwargs = {"steps": 3}

    class TestCTRAT(MethodContract):
        method_name = "ctr/sce-at"
        method_opts = {"eps": 0.1, "alpha": 0.05, "steps": 2}

    class TestPaper(PaperContract):
        paper = PAPER

Registry-wide tests override the case fixture (``attack_case``, ``method_case``) with
``params=`` to run one contract over many names. This module imports pytest: import it from tests
only (it is not imported by the rest of core).
"""

from robustlab.core.testing.attack import AttackCase, AttackContract
from robustlab.core.testing.method import MethodCase, MethodContract
from robustlab.core.testing.paper import PaperContract, reference_csv, run_metrics

__all__ = [
    "AttackCase",
    "AttackContract",
    "MethodCase",
    "MethodContract",
    "PaperContract",
    "reference_csv",
    "run_metrics",
]
