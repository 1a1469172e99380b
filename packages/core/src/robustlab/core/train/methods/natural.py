"""Natural (standard) training: cross-entropy on clean inputs."""

from __future__ import annotations

from typing import Any

from robustlab.core.train.method import METHODS, Method, check_options


class Natural(Method):
    """L = CE(f(x), y), batch mean. No options."""

    name = "natural"


@METHODS.register("natural")
def _natural(**opts: Any) -> Natural:
    check_options("natural", opts, {})
    return Natural()
