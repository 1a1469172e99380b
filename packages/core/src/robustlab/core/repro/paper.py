"""``Paper``: the base of a paper package's ``PAPER`` object, doing the common work.

A subclass sets the identity (``name``, ``title``, ``authors``, ``venue``, ``url``) and
``profiles`` and implements :meth:`Paper.plan` (the tables and runs of one :class:`Profile`). The
base loads the shipped published CSV (``data/<name>.csv`` in the package, via
``importlib.resources``), looks profiles up with a clear error, caches each profile's plan,
answers ``tables(profile)`` / ``runs(profile)`` for the runner and states the profile's budget.
An optional ``cli(subparsers)`` method adds ``robustlab <paper> <command>`` subcommands.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Any, Literal

from robustlab.core.errors import ConfigError
from robustlab.core.repro.preset import Profile
from robustlab.core.repro.published import PublishedCell, load_published, published_index
from robustlab.core.repro.spec import Cell, RunSpec, TableSpec

__all__ = ["Paper", "Plan"]


@dataclass(frozen=True)
class Plan:
    """What one profile reproduces: the tables (cells and claims) and every run they need.

    Attributes:
        tables: The tables, in report order.
        runs: Every run by id, dependency runs (``RunSpec.needs``) included.
    """

    tables: list[TableSpec]
    runs: dict[str, RunSpec] = field(default_factory=dict)

    def dependencies(self) -> list[str]:
        """Ids of helper runs: needed by other runs, filling no cell themselves."""
        used = {c.run for t in self.tables for c in t.cells}
        needed = {dep for spec in self.runs.values() for dep in spec.needs.values()}
        return [rid for rid in self.runs if rid in needed and rid not in used]


class Paper(abc.ABC):
    """Base class of a paper package's ``PAPER`` object.

    Class attributes a subclass sets:
        name, title, authors, venue, url: The paper's identity (``name`` is the package and
            entry-point name, e.g. "ctr").
        profiles: ``{profile name: Profile}``.
        csv: Package-relative path of the published table (default ``data/<name>.csv``).
        package: Package holding the CSV (default: the package of the subclass's module).
    """

    name: str = ""
    title: str = ""
    authors: str = ""
    venue: str = ""
    url: str = ""
    profiles: Mapping[str, Profile] = {}
    csv: str = ""
    package: str = ""

    @abc.abstractmethod
    def plan(self, profile: Profile) -> Plan:
        """The tables and runs of ``profile`` (called once per profile; cached)."""

    # ------------------------------------------------------------------ common work

    @cached_property
    def published(self) -> list[PublishedCell]:
        """The printed cells, from the package's ``data/<name>.csv`` (loaded once).

        Raises:
            FileNotFoundError: the package ships no such file (the message names it).
        """
        path = self.csv or f"data/{self.name}.csv"
        # the package of the first class in the MRO that ships the file (a test's subclass of
        # a paper lives elsewhere)
        packages = [self.package] if self.package else []
        packages += [
            cls.__module__.rpartition(".")[0]
            for cls in type(self).__mro__
            if issubclass(cls, Paper) and cls is not Paper
        ]
        for package in dict.fromkeys(p for p in packages if p):
            try:
                source = resources.files(package).joinpath(path)
            except (ModuleNotFoundError, TypeError):
                continue
            if source.is_file():
                return load_published(source)
        raise FileNotFoundError(
            f"{self.name}: published table {path} not found in package(s) "
            f"{', '.join(dict.fromkeys(packages))}; ship the transcribed CSV as package data "
            "(pyproject: [tool.setuptools.package-data]) or set Paper.csv / Paper.package"
        )

    def profile(self, name: str) -> Profile:
        """The :class:`Profile` named ``name``.

        Raises:
            ConfigError: unknown name (the message lists the valid profiles).
        """
        if name not in self.profiles:
            raise ConfigError(
                f"{self.name}: profile must be one of {', '.join(sorted(self.profiles))}; "
                f"got {name!r}"
            )
        return self.profiles[name]

    def planned(self, profile: str) -> Plan:
        """:meth:`plan` of the named profile, cached per profile value."""
        prof = self.profile(profile)
        cache: dict[Profile, Plan] = self.__dict__.setdefault("_plans", {})
        if prof not in cache:
            cache[prof] = self.plan(prof)
        return cache[prof]

    def tables(self, profile: str) -> list[TableSpec]:
        """The tables reproduced under ``profile``."""
        return list(self.planned(profile).tables)

    def runs(self, profile: str) -> dict[str, RunSpec]:
        """Every run the tables of ``profile`` need (dependencies included), by id."""
        return dict(self.planned(profile).runs)

    def describe_profile(self, profile: str) -> str:
        """The budget statement shown at the top of the report."""
        return self.profile(profile).description

    def cli(self, subparsers: argparse._SubParsersAction[Any]) -> None:  # noqa: B027
        """Add ``robustlab <name> <command>`` subcommands (default: none).

        Each parser sets ``func=callable(args) -> int`` with ``set_defaults``, as core's own
        subcommands do. Errors a user can cause are ``RobustlabError``/``ValueError``.
        """

    # ------------------------------------------------------------------ helpers

    def published_value(self, table: str, row: str, column: str) -> float | None:
        """The printed value of a cell.

        Raises:
            KeyError: if the cell is not in ``published`` (the message names it).
        """
        index = self.__dict__.get("_index")
        if index is None:
            index = self.__dict__["_index"] = published_index(list(self.published))
        try:
            return index[(table, row, column)].value
        except KeyError:
            raise KeyError(
                f"{self.name}: no published cell (table={table!r}, row={row!r}, column={column!r})"
            ) from None

    def cell(
        self,
        table: str,
        row: str,
        column: str,
        run: str,
        metric: str,
        *,
        tolerance: float | None = None,
        kind: Literal["robust", "clean", "other"] = "robust",
    ) -> Cell:
        """A :class:`Cell` whose ``paper_value`` is read from ``published``."""
        value = self.published_value(table, row, column)
        return Cell(table, row, column, run, metric, value, tolerance, kind)
