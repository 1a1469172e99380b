"""Perturbation budgets written the way papers and RobustBench write them: ``"8/255"``, ``"0.5"``.

eps always lives in pixel space (inputs in [0, 1]); a fraction string is parsed exactly once here
and formatted back for reports, so ``format_eps(parse_eps("8/255")) == "8/255"``.
"""

from __future__ import annotations

import math
import re

_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_eps(value: str | float | int) -> float:
    """Parse a perturbation budget such as ``"8/255"``, ``"0.031"`` or ``0.5`` into a float.

    Args:
        value: A non-negative number, or a string holding one, or a fraction ``"a/b"``.

    Returns:
        The budget as a float >= 0 (pixel space).

    Raises:
        ValueError: for text that is not a number or fraction, a zero denominator, a negative,
            NaN or infinite value.
    """
    if isinstance(value, bool):
        raise ValueError(f"eps must be a number or a string like '8/255', got {value!r}")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        match = _FRACTION.match(value)
        if match:
            num, den = float(match.group(1)), float(match.group(2))
            if den == 0:
                raise ValueError(f"eps {value!r} has a zero denominator; write e.g. '8/255'")
            out = num / den
        else:
            try:
                out = float(value)
            except ValueError:
                raise ValueError(
                    f"cannot parse eps {value!r}; write a number ('0.3') or a fraction ('8/255')"
                ) from None
    else:
        raise ValueError(
            f"eps must be a number or a string like '8/255', got {type(value).__name__}"
        )
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"eps must be finite and >= 0, got {value!r}")
    return out


def format_eps(eps: float, denominator: int = 255) -> str:
    """Format a budget the way papers write it: ``"8/255"`` for multiples of 1/255, else decimal.

    A value with at most three decimals (``0.3``, ``0.5``, ``0.031``) stays decimal; otherwise a
    value that is an integer multiple of ``1/denominator`` (within 1e-6) becomes ``"k/255"``.

    Args:
        eps: Budget >= 0.
        denominator: The pixel-scale denominator (255 for 8-bit images).

    Raises:
        ValueError: if ``eps`` is negative or not finite.
    """
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    if abs(round(eps, 3) - eps) < 1e-12:
        return f"{eps:g}"
    k = eps * denominator
    if abs(k - round(k)) < 1e-6:
        return f"{round(k)}/{denominator}"
    return f"{eps:.6g}"
