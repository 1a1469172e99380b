"""The one registry type: duplicates refused, unknown names explained, names listed."""

from __future__ import annotations

import pytest

from robustlab.core.errors import UnknownNameError
from robustlab.core.registry import Registry


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
