"""The one registry type: duplicates refused, unknown names explained, names listed."""

from __future__ import annotations

import pytest

from robustlab.core.errors import UnknownNameError, UnknownOptionError
from robustlab.core.registry import Registry, accepted_options


def test_register_build_and_names() -> None:
    reg: Registry = Registry("widget")

    @reg.register("b")
    def make_b(size: int = 1) -> tuple[str, int]:
        return ("b", size)

    reg.register("a", lambda: "a")
    assert reg.names() == ["a", "b"]
    assert reg.build("b", size=3) == ("b", 3)
    assert reg.build("a") == "a"
    assert "a" in reg and "zzz" not in reg
    assert len(reg) == 2


def test_duplicate_name_refused() -> None:
    reg: Registry = Registry("widget")
    reg.register("x", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("x", 2)
    assert reg.get("x") == 1


def test_unknown_name_lists_valid_names_and_suggests() -> None:
    reg: Registry = Registry("model")
    for name in ("lenet5", "resnet18", "vgg13"):
        reg.register(name, name)
    with pytest.raises(UnknownNameError) as info:
        reg.get("lenet")
    msg = str(info.value)
    assert "unknown model 'lenet'" in msg
    assert "Did you mean 'lenet5'" in msg
    assert "lenet5, resnet18, vgg13" in msg
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_bad_names_rejected(bad: object) -> None:
    reg: Registry = Registry("widget")
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register(bad, 1)  # type: ignore[arg-type]


def test_unknown_option_lists_the_factory_options() -> None:
    reg: Registry = Registry("widget")

    @reg.register("w")
    def make(size: int = 1, *, colour: str = "red") -> tuple[int, str]:
        return (size, colour)

    with pytest.raises(UnknownOptionError) as info:
        reg.build("w", sise=2)
    assert str(info.value) == (
        "unknown option 'sise' for widget 'w'; valid: colour, size (did you mean 'size'?)"
    )
    assert accepted_options(make) == ("colour", "size")


def test_type_errors_inside_a_factory_are_not_rewritten() -> None:
    reg: Registry = Registry("widget")
    reg.register("bad", lambda: int(object()))  # type: ignore[call-overload]
    with pytest.raises(TypeError) as info:
        reg.build("bad")
    assert not isinstance(info.value, UnknownOptionError)


def test_replaced_restores_the_entry() -> None:
    reg: Registry = Registry("widget")
    reg.register("x", 1)
    with reg.replaced("x", 2) as original:
        assert original == 1 and reg.get("x") == 2
    assert reg.get("x") == 1
