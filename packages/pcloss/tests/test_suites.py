"""The paper's attack settings as core suites."""

from __future__ import annotations

import pytest

from robustlab.core.eval import SUITES
from robustlab.pcloss import suites as S


def test_registered_suites() -> None:
    for name in (
        "pcloss/whitebox-gray",
        "pcloss/whitebox-color",
        "pcloss/large-scale",
        "pcloss/spsa",
    ):
        assert name in SUITES.names()


def test_whitebox_gray_matches_paper_settings() -> None:
    suite = SUITES.build("pcloss/whitebox-gray")
    specs = {a.label: a for a in suite.attacks}
    assert not suite.worst_case  # each attack reported on all examples, as the tables do
    assert specs["FGSM eps=0.3"].attack == "fgsm" and specs["FGSM eps=0.3"].eps == 0.3
    assert specs["BIM eps=0.2"].kwargs == {"eps": 0.2, "alpha": 0.01, "steps": 10}
    assert specs["PGD eps=0.1"].kwargs == {
        "eps": 0.1,
        "alpha": 0.01,
        "steps": 40,
        "random_start": True,
    }
    assert specs["MIM eps=0.1"].attack == "mifgsm"
    assert specs["MIM eps=0.1"].kwargs == {"eps": 0.1, "alpha": 0.01, "steps": 40, "decay": 1.0}
    cw = specs["C&W conf=0.0"]
    assert cw.attack == "cw-l2" and (cw.kwargs["steps"], cw.kwargs["lr"], cw.kwargs["kappa"]) == (
        100,
        0.01,
        0.0,
    )  # advertorch's CarliniWagnerL2Attack setup (the GCE code), not the printed lr 0.001
    assert (cw.kwargs["binary_search_steps"], cw.kwargs["c"]) == (9, 1e-3)
    bim10 = specs["BIM (step eps/10) eps=0.3"]
    assert bim10.attack == "bim"
    assert bim10.kwargs == {"eps": 0.3, "alpha": pytest.approx(0.03), "steps": 10}
    assert (
        specs["CW-Linf eps=0.3"].attack == "cw-linf"
        and specs["APGD-DLR eps=0.3"].attack == "apgd-dlr"
    )
    assert len(suite.attacks) == 13 + 3 + 6


def test_eps_and_margin_options() -> None:
    suite = SUITES.build("pcloss/whitebox-color", eps=0.12, margin=False)
    assert [a.label for a in suite.attacks] == [
        "FGSM eps=0.12",
        "BIM eps=0.12",
        "PGD eps=0.12",
        "MIM eps=0.12",
        "C&W conf=0.0",
        "BIM (step eps/10) eps=0.12",
    ]
    with pytest.raises(ValueError, match="eps must be one of"):
        SUITES.build("pcloss/whitebox-gray", eps=0.25)
    with pytest.raises(ValueError, match="Linf only"):
        SUITES.build("pcloss/whitebox-gray", norm="L2")


def test_large_scale_uses_ten_steps_of_eps_over_ten() -> None:
    specs = {a.label: a for a in SUITES.build("pcloss/large-scale").attacks}
    assert specs["PGD eps=0.010"].kwargs == {"eps": 0.01, "alpha": 0.001, "steps": 10}
    assert specs["SPSA eps=0.015"].kwargs["eps"] == 0.015


def test_transfer_rows_wrap_the_attack() -> None:
    source = {"model": "cnn3", "dataset": "fashion-mnist"}
    spec = S.row_spec(
        "MIM eps=0.2", transfer={"source_config": source}, label="transfer MIM eps=0.2"
    )
    assert spec.attack == "pcloss/transfer" and spec.label == "transfer MIM eps=0.2"
    assert spec.kwargs["attack"] == "mifgsm" and spec.kwargs["source_config"] == source
    assert spec.kind == "black-box"


def test_parse_row() -> None:
    assert S.parse_row("PGD eps=0.010") == ("PGD", 0.01)
    assert S.parse_row("C&W conf=0.0") == ("C&W", 0.0)
    for bad in ("Clean", "PGD eps=", "FOO eps=0.1"):
        with pytest.raises(ValueError, match="not an attack row"):
            S.parse_row(bad)


def test_early_stop_settings_per_profile() -> None:
    """fmnist/paper score every iterative white-box attack AutoAttack's way (first fooling
    iterate); quick keeps the last iterate; SPSA early-stops in both; transfer and FGSM never."""
    from robustlab.pcloss.defaults import FMNIST, PAPER, QUICK

    rows = [f"{a} eps=0.1" for a in ("BIM", "PGD", "MIM")]
    for profile, on in ((QUICK, False), (FMNIST, True), (PAPER, True)):
        s = profile.attacks
        specs = [S.row_spec(r, s) for r in rows]
        specs += S.margin_specs(("0.1",), s) + S.bim_eps10_specs(("0.1",), s)
        specs += [S.row_spec(r, s, large=True) for r in ("PGD eps=0.1", "MIM eps=0.1")]
        assert all(spec.kwargs.get("early_stop", False) is on for spec in specs), profile.name
        assert "early_stop" not in S.row_spec("FGSM eps=0.1", s).kwargs
        assert S.row_spec("SPSA eps=0.3", s).kwargs["early_stop"] is True
        transfer = S.row_spec("PGD eps=0.1", s, transfer={"source_run": "run"})
        assert "early_stop" not in transfer.kwargs  # the inner attack sees only the substitute
