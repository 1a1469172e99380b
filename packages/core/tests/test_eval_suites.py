"""Suites, attack specs and eps strings of the evaluation harness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.eval import SUITES, AttackSpec, Suite, format_eps, parse_eps, resolve_suite


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("8/255", 8 / 255),
        ("0.031", 0.031),
        ("0.5", 0.5),
        (" 2 / 255 ", 2 / 255),
        ("1e-2", 0.01),
        (0.3, 0.3),
        (1, 1.0),
        ("0", 0.0),
    ],
)
def test_parse_eps(text: str | float, value: float) -> None:
    assert parse_eps(text) == pytest.approx(value, abs=1e-15)


@pytest.mark.parametrize("bad", ["abc", "8/0", "-0.1", "nan", "inf", True, None, "1/2/3"])
def test_parse_eps_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="eps"):
        parse_eps(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (8 / 255, "8/255"),
        (2 / 255, "2/255"),
        (0.031, "0.031"),
        (0.5, "0.5"),
        (0.3, "0.3"),
        (0.0, "0"),
        (1.0, "1"),
        (16 / 255, "16/255"),
        (0.0123456789, "0.0123457"),
    ],
)
def test_format_eps(value: float, text: str) -> None:
    assert format_eps(value) == text


@given(st.integers(min_value=0, max_value=255))
def test_eps_fraction_roundtrip(k: int) -> None:
    text = format_eps(k / 255)
    assert math.isclose(parse_eps(text), k / 255, abs_tol=1e-12)


@given(st.floats(min_value=0, max_value=10, allow_nan=False))
def test_eps_roundtrip_close(value: float) -> None:
    assert math.isclose(parse_eps(format_eps(value)), value, rel_tol=1e-5, abs_tol=1e-9)


def test_attack_spec_parse_values() -> None:
    spec = AttackSpec.parse("pgd:steps=20,eps=8/255,alpha=2/255,random_start=true,loss=ce,label=P")
    assert spec.label == "P"
    assert spec.attack == "pgd"
    assert spec.kwargs == {
        "steps": 20,
        "eps": 8 / 255,
        "alpha": 2 / 255,
        "random_start": True,
        "loss": "ce",
    }
    assert spec.norm == "Linf" and spec.kind == "iterative"
    assert AttackSpec.parse("pgd-l2:eps=0.5").norm == "L2"
    assert AttackSpec.parse("fgsm").kind == "single-step"
    assert AttackSpec.parse("pgd:steps=1").kind == "single-step"
    assert AttackSpec.parse("square").kind == "black-box"
    assert AttackSpec.parse("fgsm").label == "fgsm"


@pytest.mark.parametrize("bad", [":steps=2", "pgd:steps", "pgd:=3", "pgd:eps=abc"])
def test_attack_spec_parse_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        AttackSpec.parse(bad)


def test_spec_dict_roundtrip() -> None:
    spec = AttackSpec("PGD-20", "pgd", {"eps": "8/255", "alpha": 2 / 255, "steps": 20})
    d = spec.to_dict()
    assert d["kwargs"]["eps"] == "8/255" and d["kwargs"]["alpha"] == "2/255"
    back = AttackSpec.from_dict(d)
    assert back.kwargs["eps"] == pytest.approx(8 / 255) and back.kwargs["steps"] == 20


def test_suite_validation() -> None:
    with pytest.raises(ConfigError, match="no attacks"):
        Suite("s", [])
    with pytest.raises(ConfigError, match="repeats labels"):
        Suite("s", [AttackSpec("A", "fgsm"), AttackSpec("A", "pgd")])
    with pytest.raises(ConfigError, match="label"):
        AttackSpec("", "fgsm")
    with pytest.raises(ConfigError, match="attack"):
        AttackSpec("A", 3)  # type: ignore[arg-type]


def test_suite_from_list_and_parse() -> None:
    s = Suite.from_list(
        [
            "fgsm:eps=8/255",
            AttackSpec("B", "pgd", {"eps": 8 / 255}),
            {"label": "C", "attack": "cw-linf", "kwargs": {"eps": "8/255"}},
        ]
    )
    assert [a.label for a in s.attacks] == ["fgsm:eps=8/255", "B", "C"]
    assert s.eps == pytest.approx(8 / 255) and s.norm == "Linf" and s.worst_case
    mixed = Suite.parse("fgsm:eps=0.1;pgd:eps=0.2", worst_case=False)
    assert mixed.eps is None and not mixed.worst_case and len(mixed.attacks) == 2


@pytest.mark.parametrize("name", ["fgsm", "pgd20", "whitebox", "autoattack"])
def test_registered_suites_take_eps(name: str) -> None:
    default = SUITES.build(name)
    assert default.eps == pytest.approx(8 / 255) and default.norm == "Linf"
    s = SUITES.build(name, eps="4/255")
    assert s.eps == pytest.approx(4 / 255)
    assert all(a.kwargs["eps"] == pytest.approx(4 / 255) for a in s.attacks)


def test_suite_contents() -> None:
    wb = SUITES.build("whitebox")
    assert [a.attack for a in wb.attacks] == ["fgsm", "pgd", "cw-linf"]
    assert not wb.worst_case
    pgd = SUITES.build("pgd20").attacks[0]
    assert pgd.kwargs["steps"] == 20 and pgd.kwargs["alpha"] == pytest.approx(2 / 255)
    l2 = SUITES.build("pgd20", norm="L2")
    assert l2.attacks[0].attack == "pgd-l2" and l2.eps == 0.5 and l2.norm == "L2"
    aa = SUITES.build("autoattack", eps=0.5, norm="L2").attacks[0]
    assert aa.kwargs == {"eps": 0.5, "norm": "L2", "version": "standard"}
    custom = SUITES.build("autoattack", attacks=["apgd-ce", "apgd-t"]).attacks[0]
    assert custom.kwargs["version"] == "custom" and custom.label == "AutoAttack-custom"
    assert custom.kwargs["attacks"] == ["apgd-ce", "apgd-t"]
    with pytest.raises(ConfigError, match="Linf only"):
        SUITES.build("whitebox", norm="L2")
    with pytest.raises(ConfigError, match="norm"):
        SUITES.build("pgd20", norm="L1")


def test_resolve_suite() -> None:
    assert resolve_suite("pgd20", eps="2/255").eps == pytest.approx(2 / 255)
    s = resolve_suite("fgsm;pgd:steps=5,eps=0.1", eps=0.2)
    assert [a.eps for a in s.attacks] == [pytest.approx(0.2), pytest.approx(0.1)]
    ready = Suite("x", [AttackSpec("A", "fgsm")])
    assert resolve_suite(ready) is ready
    assert resolve_suite([AttackSpec("A", "fgsm")]).name == "custom"
    with pytest.raises(UnknownNameError, match="Valid suites"):
        resolve_suite("nope")
    with pytest.raises(UnknownNameError, match="unknown attack"):
        resolve_suite("fgsm;nope:steps=3")


def test_unknown_attack_option_fails_before_any_work() -> None:
    from robustlab.core.errors import UnknownOptionError

    with pytest.raises(UnknownOptionError, match="unknown option 'stepz' for attack 'pgd'"):
        resolve_suite("fgsm;pgd:stepz=5")


def test_cli_unknown_attack_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from robustlab.core.cli import main

    code = main(
        [
            "eval",
            "--checkpoint",
            "x.safetensors",
            "--dataset",
            "digits-28",
            "--suite",
            "pgd:stepz=5",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "unknown option 'stepz' for attack 'pgd'; valid: alpha, " in err
    assert "did you mean 'steps'" in err


def test_kind_and_norm_come_from_the_attack_class() -> None:
    assert AttackSpec.parse("cw-l2").norm == "L2" and AttackSpec.parse("simba").norm == "L2"
    assert AttackSpec.parse("pgd-l2").norm == "L2" and AttackSpec.parse("pgd").norm == "Linf"
    assert AttackSpec.parse("cw-l2").attack_kind == "optimization"
    assert AttackSpec.parse("cw-l2").kind == "iterative"
    assert AttackSpec.parse("autoattack").attack_kind == "ensemble"
    assert AttackSpec.parse("apgd-ce:steps=1").kind == "single-step"
    assert AttackSpec.parse("transfer").attack_kind == "transfer"  # class read without a source
