"""nox sessions for the robustlab monorepo.

Sessions are generated in loops over ``packages/*``: adding ``packages/<name>/`` with a
``pyproject.toml`` gives it ``tests-<name>``, a wheel in ``build`` and (for paper packages)
``reproduce-<name>`` without touching this file.

All sessions share ONE environment: the Python that runs nox (``venv_backend="none"``).
PyTorch is several GB, so it is installed once into that environment and never per session.
``python3 dev.py ARGS`` creates that environment (``.venv``: torch 2.14.1, torchvision 0.29.1,
nox) the first time, reuses it afterwards and runs ``nox ARGS`` in it. The workspace packages
are installed editable into it the first time a session needs them and again only when a
``pyproject.toml``, a dependency group or the environment itself changes.

    python3 dev.py -s reproduce-ctr            # the main job (quick profile on CPU)
    python3 dev.py -s lint typecheck tests     # the test command CI runs
    python3 dev.py -s build                    # wheels of every package in dist/
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent
PACKAGES = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))
PAPER_PACKAGES = [p for p in PACKAGES if p.name != "core"]
STAMP = ROOT / ".nox" / "installed.sha256"
DIST = ROOT / "dist"
# The interpreter running nox: with venv_backend="none" every session runs in it (never a bare
# `python` from PATH, which may be another interpreter when nox was started without activating).
PY = sys.executable

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "tests"]


def _dependency_group(name: str) -> list[str]:
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, dict):
            out += _dependency_group(item["include-group"])
        else:
            out.append(item)
    return out


def _install(session: nox.Session, groups: tuple[str, ...] = ("test",)) -> None:
    """Install the workspace packages (editable) and the given dependency groups, once.

    Done again when a package's pyproject.toml, a group's requirements or the environment
    itself (a deleted and recreated .venv, another $ROBUSTLAB_VENV) changed.
    """
    deps = [d for g in groups for d in _dependency_group(g)]
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    key = "|".join(
        [
            *groups,
            *deps,
            sys.prefix,
            str(cfg.stat().st_mtime_ns if cfg.exists() else 0),
            *(hashlib.sha256((p / "pyproject.toml").read_bytes()).hexdigest() for p in PACKAGES),
        ]
    )
    stamp = STAMP.with_name(f"installed-{'-'.join(groups)}.sha256")
    if stamp.exists() and stamp.read_text() == key:
        return
    pip = [PY, "-m", "pip", "install", "--quiet"]
    session.run(*pip, "setuptools>=77", "wheel")
    editable = [arg for p in PACKAGES for arg in ("-e", str(p))]
    session.run(*pip, "--no-build-isolation", *editable, *deps)
    stamp.parent.mkdir(exist_ok=True)
    stamp.write_text(key)


def _pytest(session: nox.Session, paths: list[Path], marker: str) -> None:
    args = session.posargs or []
    session.run(PY, "-m", "pytest", "-m", marker, *map(str, paths), *args)


@nox.session
def tests(session: nox.Session) -> None:
    """Default test suite of every package (slow tests excluded)."""
    _install(session)
    _pytest(session, [p / "tests" for p in PACKAGES], "not slow")


@nox.session(name="tests-slow")
def tests_slow(session: nox.Session) -> None:
    """Only the tests marked slow (minutes each: real training runs, long attacks)."""
    _install(session)
    _pytest(session, [p / "tests" for p in PACKAGES], "slow")


def _make_package_tests(pkg: Path) -> None:
    @nox.session(name=f"tests-{pkg.name}")
    def _session(session: nox.Session) -> None:
        _install(session)
        _pytest(session, [pkg / "tests"], "not slow")

    _session.__doc__ = f"Default test suite of packages/{pkg.name}."


def _make_reproduce(pkg: Path) -> None:
    @nox.session(name=f"reproduce-{pkg.name}")
    def _session(session: nox.Session) -> None:
        _install(session, groups=())
        session.run(PY, "-m", "robustlab", "data", "ensure", "fashion-mnist")
        session.run(PY, "-m", "robustlab", "reproduce", pkg.name, *session.posargs)

    _session.__doc__ = f"Reproduce the tables of {pkg.name} (-- --profile quick|fmnist|paper --tables 1,3 --device cpu)."


for _pkg in PACKAGES:
    _make_package_tests(_pkg)
for _pkg in PAPER_PACKAGES:
    _make_reproduce(_pkg)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check and the import contracts (layers, core knows no paper)."""
    _install(session, groups=("lint",))
    session.run(PY, "-m", "ruff", "check", ".")
    session.run(PY, "-m", "ruff", "format", "--check", ".")
    # Contracts: [tool.importlinter] in pyproject.toml. No cache: the graph takes well under 1 s.
    session.run(str(Path(PY).parent / "lint-imports"), "--no-cache")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on robustlab-core and on every paper package."""
    _install(session, groups=("typecheck",))
    session.run(PY, "-m", "mypy", "packages/core/src/robustlab/core")
    path = ":".join(str(p / "src") for p in PACKAGES)
    for pkg in PAPER_PACKAGES:
        session.run(PY, "-m", "mypy", "-p", f"robustlab.{pkg.name}", env={"MYPYPATH": path})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with the obvious alternatives; writes bench/results/*.json."""
    _install(session)
    session.run(PY, "-m", "bench", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Controlled comparison of every installed paper (default: -- --budget quick, ~30 min on
    2 CPU cores, resumable); `-- --runs-dir runs` without --budget: existing runs by threat model."""
    _install(session, groups=())
    args = session.posargs or ["--budget", "quick"]
    session.run(PY, "-m", "robustlab", "compare", *args)


# What a package's wheel is built from: its folder without build outputs, caches and runs.
_NOT_SOURCES = shutil.ignore_patterns(
    "build", "dist", "runs", "*.egg-info", "__pycache__", "*.py[cod]", ".*cache*"
)


@nox.session
def build(session: nox.Session) -> None:
    """Wheels of every package, package data included, into dist/ (or `-- OUT_DIR`).

    Offline: no build isolation (setuptools from this environment) and no dependencies
    fetched. Each package is built from a clean temporary copy, so files deleted from the
    sources never linger in a wheel through a stale build/ folder. Then
    `pip install --find-links dist robustlab-pcloss` installs a paper package with its core.
    """
    out = Path(session.posargs[0]).absolute() if session.posargs else DIST
    session.run(PY, "-m", "pip", "install", "--quiet", "setuptools>=77")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("robustlab_*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="robustlab-build-") as tmp:
        sources = [shutil.copytree(p, Path(tmp) / p.name, ignore=_NOT_SOURCES) for p in PACKAGES]
        wheel = [PY, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        session.run(*wheel, "--wheel-dir", str(out), *map(str, sources))
    session.log("wheels: " + ", ".join(sorted(w.name for w in out.glob("robustlab_*.whl"))))
