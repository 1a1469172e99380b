"""The import contracts of ``nox -s lint`` (``[tool.importlinter]`` in the root pyproject.toml).

Each check runs ``lint-imports`` on a copy of the source tree: unchanged it passes; with one
forbidden import injected (core -> a paper package, a paper package -> another, a low core layer
-> a higher one) it fails and names the import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _copy_tree(dest: Path) -> Path:
    """Every package's ``src/robustlab`` merged into ``dest/src/robustlab``; the config beside it."""
    src = dest / "src"
    for pkg in sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml")):
        if (pkg / "src" / "robustlab").is_dir():
            shutil.copytree(
                pkg / "src" / "robustlab",
                src / "robustlab",
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.csv"),
            )
    shutil.copy(PYPROJECT, dest / "pyproject.toml")
    return src


def _lint(dest: Path, src: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the sources under ``src`` only: ``-S`` skips the site-packages ``.pth``
    files, so the editable installs of the real tree are not on the path."""
    path = f"{src}:{sysconfig.get_paths()['purelib']}"
    return subprocess.run(
        [sys.executable, "-S", "-c", LINT, "--no-cache"],
        cwd=dest,
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _inject(src: Path, module: str, line: str) -> None:
    path = src / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # injected by test_layers\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    dest = tmp_path_factory.mktemp("layers")
    return dest, _copy_tree(dest)


def test_contracts_hold_on_the_tree(tree: tuple[Path, Path]) -> None:
    result = _lint(*tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "message"),
    [
        (
            "robustlab.core.utils.seed",
            "import robustlab.ctr",
            "robustlab.core is not allowed to import robustlab.ctr",
        ),
        (
            "robustlab.ctr.defaults",
            "import robustlab.pcloss",
            "robustlab.ctr is not allowed to import robustlab.pcloss",
        ),
        (
            "robustlab.core.utils.io",
            "import robustlab.core.train",
            "robustlab.core.utils is not allowed to import robustlab.core.train",
        ),
        (
            "robustlab.core.repro.store",
            "import robustlab.core.report",
            "robustlab.core.repro is not allowed to import robustlab.core.report",
        ),
    ],
    ids=["core->ctr", "ctr->pcloss", "utils->train", "repro->report"],
)
def test_a_forbidden_import_breaks_lint(
    tree: tuple[Path, Path], module: str, line: str, message: str
) -> None:
    dest, src = tree
    path = src / (module.replace(".", "/") + ".py")
    original = path.read_text()
    try:
        _inject(src, module, line)
        result = _lint(dest, src)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert message in " ".join(result.stdout.split()), result.stdout


def test_every_paper_package_is_in_the_paper_contracts() -> None:
    """A new packages/<paper> must add its name to both paper contracts of pyproject.toml."""
    import tomllib

    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    by_id = {c["id"]: c for c in contracts}
    papers = {p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml")} - {"core"}
    for cid in ("core-knows-no-paper", "papers-independent"):
        listed = {
            name.strip("() ") for name in by_id[cid]["layers"][0].replace(":", "|").split("|")
        }
        missing = papers - listed
        assert not missing, f"add {sorted(missing)} to the {cid!r} contract in pyproject.toml"


def test_utils_and_plugins_name_the_same_entry_point_group() -> None:
    from robustlab.core.plugins import GROUP
    from robustlab.core.utils.meta import PAPER_GROUP

    assert PAPER_GROUP == GROUP
