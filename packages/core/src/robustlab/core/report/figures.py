"""Report figures (matplotlib, object API with the Agg canvas; PNG and SVG).

- :func:`eps_curves`: accuracy vs eps per run and attack, from metrics keys with an eps
  ("acc/PGD eps=0.1", "acc/FGSM eps=8/255"); clean accuracy is drawn at eps = 0.
- :func:`clean_vs_robust`: one point per run, clean accuracy vs its robust accuracy.
- :func:`table_bars`: paper vs ours per cell of one table.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from robustlab.core.utils import atomic_write_bytes

_EPS = re.compile(r"\s*\beps\s*=\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)(?:\s*/\s*([0-9]*\.?[0-9]+))?")
MAX_BARS = 60


@dataclass(frozen=True)
class FigureFile:
    """A rendered figure: its name, title, PNG bytes (for embedding) and files written."""

    name: str
    title: str
    png: bytes
    png_path: Path | None = None
    svg_path: Path | None = None


def split_eps(key: str) -> tuple[str, float] | None:
    """ "acc/PGD eps=8/255" -> ("acc/PGD", 0.0314); None if the key has no eps."""
    m = _EPS.search(key)
    if m is None:
        return None
    eps = float(m.group(1)) / (float(m.group(2)) if m.group(2) else 1.0)
    family = (key[: m.start()] + key[m.end() :]).strip()
    return family, eps


def eps_series(metrics: Mapping[str, float]) -> dict[str, list[tuple[float, float]]]:
    """Group "acc/..." metrics with an eps into curves {attack family: [(eps, acc), ...]} sorted by eps.

    Only families with at least two budgets are curves; clean accuracy (if present) is added at
    eps = 0.
    """
    series: dict[str, list[tuple[float, float]]] = {}
    for key, value in metrics.items():
        if not key.startswith("acc/"):
            continue
        parsed = split_eps(key)
        if parsed is not None:
            series.setdefault(parsed[0].removeprefix("acc/"), []).append((parsed[1], value))
    out = {}
    for family, pts in series.items():
        if len({e for e, _ in pts}) < 2:
            continue
        if "clean_acc" in metrics and all(e > 0 for e, _ in pts):
            pts.append((0.0, metrics["clean_acc"]))
        out[family] = sorted(pts)
    return out


def robust_value(metrics: Mapping[str, float]) -> float | None:
    """A run's robust accuracy: worst_case_acc if measured, else the lowest "acc/..." value."""
    if "worst_case_acc" in metrics:
        return metrics["worst_case_acc"]
    accs = [v for k, v in metrics.items() if k.startswith("acc/")]
    return min(accs) if accs else None


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def save(fig: Figure, name: str, title: str, out_dir: Path | None) -> FigureFile:
    """Render ``fig`` to PNG bytes and, when ``out_dir`` is given, write ``<name>.png/.svg``."""
    png = _png(fig)
    if out_dir is None:
        return FigureFile(name, title, png)
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", bbox_inches="tight")
    png_path = atomic_write_bytes(out_dir / f"{name}.png", png)
    svg_path = atomic_write_bytes(out_dir / f"{name}.svg", svg.getvalue())
    return FigureFile(name, title, png, png_path, svg_path)


def eps_curves(
    runs: Mapping[str, Mapping[str, float]], title: str = "Accuracy vs eps"
) -> Figure | None:
    """Accuracy (%) vs eps, one line per (run, attack); None when no run has two budgets."""
    curves = [(rid, fam, pts) for rid, m in runs.items() for fam, pts in eps_series(m).items()]
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for rid, fam, pts in curves:
        ax.plot([e for e, _ in pts], [a for _, a in pts], marker="o", label=f"{rid} / {fam}")
    ax.set(xlabel="eps (pixel scale, inputs in [0, 1])", ylabel="accuracy (%)", title=title)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="x-small", loc="best")
    return fig


def clean_vs_robust(
    points: Sequence[tuple[str, str, float, float]], title: str = "Clean vs robust accuracy"
) -> Figure | None:
    """Scatter of (label, group, clean %, robust %) points, one colour per group; None if empty."""
    if not points:
        return None
    fig = Figure(figsize=(6.4, 4.6))
    ax = fig.add_subplot()
    groups = list(dict.fromkeys(g for _, g, _, _ in points))
    for group in groups:
        pts = [(lab, c, r) for lab, g, c, r in points if g == group]
        ax.scatter([c for _, c, _ in pts], [r for _, _, r in pts], label=group, s=30)
        for lab, c, r in pts:
            ax.annotate(lab, (c, r), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="clean accuracy (%)", ylabel="robust accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    if len(groups) > 1 or groups[0]:
        ax.legend(fontsize="x-small", loc="best")
    return fig


def table_bars(
    labels: Sequence[str], paper: Sequence[float | None], ours: Sequence[float | None], title: str
) -> Figure | None:
    """Horizontal paired bars, paper vs ours, per cell (first :data:`MAX_BARS` cells with a value)."""
    rows = [
        (lab, p, o)
        for lab, p, o in zip(labels, paper, ours, strict=True)
        if p is not None or o is not None
    ]
    if not rows:
        return None
    shown = rows[:MAX_BARS]
    if len(rows) > MAX_BARS:
        title = f"{title} (first {MAX_BARS} of {len(rows)} cells)"
    fig = Figure(figsize=(7.0, 1.2 + 0.32 * len(shown)))
    ax = fig.add_subplot()
    ys = range(len(shown))
    ax.barh(
        [y + 0.2 for y in ys],
        [p or 0.0 for _, p, _ in shown],
        height=0.4,
        label="paper",
        color="#9aa5b1",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [o or 0.0 for _, _, o in shown],
        height=0.4,
        label="ours",
        color="#2f6fb0",
    )
    ax.set_yticks(list(ys), [lab for lab, _, _ in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="value (%)", title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="x-small", loc="lower right")
    return fig
