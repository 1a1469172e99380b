"""The command line: one-line errors, non-zero exit codes, list subcommands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from robustlab.core.cli import main


def test_list_papers_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "papers"]) == 0


@pytest.mark.parametrize("kind", ["datasets", "models", "attacks", "methods", "suites"])
def test_list_each_registry(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", kind]) == 0
    assert capsys.readouterr().out.strip(), f"`robustlab list {kind}` printed nothing"


def test_unknown_choice_exits_nonzero() -> None:
    with pytest.raises(SystemExit) as info:
        main(["list", "nonsense"])
    assert info.value.code != 0


def test_python_dash_m_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "robustlab", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    assert "robustlab-core" in out.stdout
