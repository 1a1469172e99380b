"""Published tables as data: a paper's printed cells from a ``table,row,column,value,note`` CSV.

Each paper package ships a verified copy of ``tables/<paper>.csv`` as package data and loads it
with :func:`load_published`. Values are kept exactly as printed (``raw``); ``value`` is the parsed
number, or None where the paper printed no number ("-", "*", empty).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

CellRef = tuple[str, str, str]
"""(table, row, column) exactly as written in the published CSV."""

HEADER = ("table", "row", "column", "value", "note")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?$")
_NO_VALUE = {"", "-", "*", "--", "n/a", "N/A"}


@dataclass(frozen=True)
class PublishedCell:
    """One printed cell of a paper's table.

    Attributes:
        table: Table id as printed ("1", "3", ...).
        row: Row label as printed (e.g. "FGSM eps=0.1").
        column: Column label as printed (e.g. "MNIST/Ours").
        value: The printed number (percent unless the note says otherwise), or None if the paper
            printed no number ("-", "*", empty).
        raw: The printed text, unchanged (e.g. "85.63%", "*").
        note: The transcriber's note (dataset, anomalies, ...).
    """

    table: str
    row: str
    column: str
    value: float | None
    raw: str
    note: str = ""

    @property
    def ref(self) -> CellRef:
        """The cell's (table, row, column) reference."""
        return (self.table, self.row, self.column)


def parse_value(raw: str) -> float | None:
    """Parse a printed value: "99.2" -> 99.2, "85.63%" -> 85.63, "-"/"*"/"" -> None.

    Raises:
        ValueError: for text that is neither a number nor a no-value marker.
    """
    text = raw.strip()
    if text in _NO_VALUE:
        return None
    if not _NUMBER.match(text):
        raise ValueError(
            f"published value {raw!r} is not a number; write it as printed digits "
            f"(optionally with '%') or one of {sorted(m for m in _NO_VALUE if m)} for 'no value'"
        )
    return float(text.rstrip("%"))


def _read_text(source: str | os.PathLike[str] | Traversable) -> tuple[str, str]:
    if isinstance(source, Traversable) and not isinstance(source, Path):
        return source.read_text(encoding="utf-8"), str(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"published table file {str(path)!r} not found")
    return path.read_text(encoding="utf-8"), str(path)


def load_published(source: str | os.PathLike[str] | Traversable) -> list[PublishedCell]:
    """Read a published-table CSV (``table,row,column,value,note``).

    Args:
        source: A file path, or a package resource, e.g.
            ``importlib.resources.files("robustlab.pcloss") / "tables.csv"``.

    Returns:
        The cells in file order.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: on a wrong header, a duplicate (table, row, column), or an unparsable value
            (the message names the line).
    """
    text, name = _read_text(source)
    reader = csv.reader(io.StringIO(text))
    header = tuple(h.strip() for h in next(reader, ()))
    if header[:5] != HEADER:
        raise ValueError(f"{name}: header must be {','.join(HEADER)}, got {','.join(header)!r}")
    cells: list[PublishedCell] = []
    seen: set[CellRef] = set()
    for lineno, rec in enumerate(reader, start=2):
        if not rec or all(not f.strip() for f in rec):
            continue
        if len(rec) < 4:
            raise ValueError(
                f"{name}:{lineno}: expected 5 fields table,row,column,value,note, got {rec!r}"
            )
        table, row, column, raw = (f.strip() for f in rec[:4])
        note = rec[4].strip() if len(rec) > 4 else ""
        try:
            value = parse_value(raw)
        except ValueError as exc:
            raise ValueError(f"{name}:{lineno}: {exc}") from None
        cell = PublishedCell(table, row, column, value, raw, note)
        if cell.ref in seen:
            raise ValueError(f"{name}:{lineno}: duplicate cell {cell.ref!r}")
        seen.add(cell.ref)
        cells.append(cell)
    return cells


def published_index(cells: list[PublishedCell]) -> dict[CellRef, PublishedCell]:
    """Map (table, row, column) -> cell for fast lookup."""
    return {c.ref: c for c in cells}
