"""Wheels of every workspace package (``nox -s build``): contents, pins, a clean offline install.

The fast tests build the wheels once (``nox -s build -- TMP``, a few seconds) and read them as
zip files. The slow test installs ``robustlab-pcloss`` with ``pip install --no-index
--find-links DIST`` into a new virtual environment and reads its packaged CSV there.
"""

from __future__ import annotations

import csv
import email.parser
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))
SKIPPED_PARTS = {"__pycache__", "build", "dist"}
NOT_SOURCES = shutil.ignore_patterns("build", "dist", "runs", "*.egg-info", "__pycache__", ".*")


def _project(pkg: Path) -> dict[str, str]:
    return tomllib.loads((pkg / "pyproject.toml").read_text())["project"]


def _sources(pkg: Path) -> set[str]:
    """Every file a wheel must carry: ``src/robustlab/**`` except caches and bytecode."""
    base = pkg / "src"
    out = set()
    for path in (base / "robustlab").rglob("*"):
        rel = path.relative_to(base)
        skipped = any(part in SKIPPED_PARTS or part.startswith(".") for part in rel.parts)
        if path.is_file() and not skipped and path.suffix not in {".pyc", ".pyo"}:
            out.add(rel.as_posix())
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels ``nox -s build`` writes (into a temporary folder instead of dist/)."""
    pytest.importorskip("nox")
    out = tmp_path_factory.mktemp("dist")
    envdir = tmp_path_factory.mktemp("noxenv")
    cmd = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "--envdir", str(envdir)]
    result = subprocess.run(
        [*cmd, "-s", "build", "--", str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def _wheel(dist: Path, pkg: Path) -> Path:
    project = _project(pkg)
    stem = f"{canonicalize_name(project['name']).replace('-', '_')}-{project['version']}"
    wheels = list(dist.glob(f"{stem}-*.whl"))
    assert len(wheels) == 1, f"expected one {stem} wheel in {sorted(dist.iterdir())}"
    return wheels[0]


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(name).decode())


def test_build_writes_one_wheel_per_package_and_nothing_else(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    assert len(names) == len(PACKAGES) >= 6, names
    for pkg in PACKAGES:
        assert _wheel(dist, pkg).name.endswith("-py3-none-any.whl")


@pytest.mark.parametrize("pkg", PACKAGES, ids=[p.name for p in PACKAGES])
def test_wheel_carries_every_source_and_data_file(dist: Path, pkg: Path) -> None:
    with zipfile.ZipFile(_wheel(dist, pkg)) as zf:
        listed = set(zf.namelist())
    sources = _sources(pkg)
    data = {s for s in sources if not s.endswith(".py")}
    assert f"robustlab/{pkg.name}/py.typed" in data
    if pkg.name != "core":  # the published table, read through importlib.resources
        assert f"robustlab/{pkg.name}/data/{pkg.name}.csv" in data
    missing = sorted(sources - listed)
    assert not missing, f"{pkg.name} wheel lacks {missing}: add them to package-data"
    # PEP 420: no package owns robustlab/__init__.py; tests stay out of the wheel
    assert "robustlab/__init__.py" not in listed
    assert not [n for n in listed if "/tests/" in n or n.startswith("tests/")]


@pytest.mark.parametrize("pkg", PACKAGES, ids=[p.name for p in PACKAGES])
def test_wheel_metadata_and_entry_points(dist: Path, pkg: Path) -> None:
    meta = _metadata(_wheel(dist, pkg))
    assert meta["Name"] == _project(pkg)["name"]
    assert meta["Version"] == _project(pkg)["version"]
    with zipfile.ZipFile(_wheel(dist, pkg)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(name).decode()
    if pkg.name == "core":
        assert re.search(r"^robustlab = robustlab\.core\.cli:main$", entry_points, re.M)
    else:
        assert "[robustlab.papers]" in entry_points
        assert f"{pkg.name} = robustlab.{pkg.name}.paper:PAPER" in entry_points


def test_version_pins_between_packages_resolve(dist: Path) -> None:
    """Each robustlab-* requirement admits the version built beside it, and paper packages pin
    core by a range that stops before core's next minor release (DESIGN: >=0.N,<0.N+1)."""
    built = {
        canonicalize_name(_project(p)["name"]): Version(_project(p)["version"]) for p in PACKAGES
    }
    core = built["robustlab-core"]
    for pkg in PACKAGES:
        reqs = [Requirement(r) for r in _metadata(_wheel(dist, pkg)).get_all("Requires-Dist", [])]
        ours = [r for r in reqs if canonicalize_name(r.name).startswith("robustlab-")]
        for req in ours:
            name = canonicalize_name(req.name)
            assert name in built, f"{pkg.name} requires {req}, which no package builds"
            assert req.specifier.contains(built[name]), f"{pkg.name}: {req} excludes {built[name]}"
        if pkg.name != "core":
            (pin,) = [r for r in ours if canonicalize_name(r.name) == "robustlab-core"]
            assert {s.operator for s in pin.specifier} >= {">=", "<"}, f"{pkg.name}: {pin}"
            assert not pin.specifier.contains(Version(f"{core.major}.{core.minor + 1}.0"))


# ---------------------------------------------------------------- a clean, offline install


def _requirement_closure(roots: list[Requirement]) -> dict[str, md.Distribution]:
    """Installed distributions that ``roots`` need, transitively (extras and markers honoured)."""
    seen: dict[str, md.Distribution] = {}
    todo = [(r, "") for r in roots]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # pip reports it below, by name
        if name not in seen:
            seen[name] = dist
            todo += [(Requirement(r), "") for r in dist.requires or []]
        for wanted in req.extras:  # requirements that only an extra brings
            todo += [(Requirement(r), wanted) for r in dist.requires or [] if "extra" in r]
    return seen


def _top_level(dist: md.Distribution) -> Iterator[Path]:
    """The top-level site-packages entries a distribution installed (packages, modules, .libs)."""
    names = {f.parts[0] for f in dist.files or [] if f.parts and f.parts[0] not in {"..", "/"}}
    for name in sorted(names - {"__pycache__"}):
        yield Path(str(dist.locate_file(name)))


def _third_party_overlay(dest: Path, roots: list[Requirement]) -> int:
    """Symlink the installed third-party distributions ``roots`` need (and pip) into ``dest``."""
    dest.mkdir()
    dists = _requirement_closure([*roots, Requirement("pip")])
    assert not [n for n in dists if n.startswith("robustlab")]
    for dist in dists.values():
        for source in _top_level(dist):
            if source.exists() and not (dest / source.name).exists():
                (dest / source.name).symlink_to(source)
    return len(dists)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["wheels", "folders"])
def test_pip_install_pcloss_in_a_clean_environment(dist: Path, tmp_path: Path, source: str) -> None:
    """The README's installs, in a new environment, with no index.

    ``wheels``: ``pip install --find-links dist robustlab-pcloss``; ``folders``: ``pip install
    packages/core packages/pcloss`` (clean copies of the folders, built without isolation).
    The environment sees torch and the other third-party requirements of core and pcloss
    through a read-only overlay (symlinks into the test's own environment: gigabytes are not
    copied) but no robustlab package at all: robustlab-core and robustlab-pcloss can only come
    from the wheels or folders, and ``--no-index`` means their metadata must resolve alone.
    """
    roots = [
        Requirement(r)
        for w in ("robustlab-core", "robustlab-pcloss")
        for pkg in PACKAGES
        if _project(pkg)["name"] == w
        for r in _metadata(_wheel(dist, pkg)).get_all("Requires-Dist", [])
        if not r.startswith("robustlab")
    ]
    overlay = tmp_path / "third-party"
    assert _third_party_overlay(overlay, roots) > 10
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()
    (Path(purelib) / "robustlab_test_overlay.pth").write_text(f"{overlay}\n")

    def run(*args: str) -> str:
        result = subprocess.run(
            [py, *args], capture_output=True, text=True, check=False, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert "robustlab" not in run("-m", "pip", "list", "--format=freeze").lower()
    pip = ["-m", "pip", "install", "--no-index"]
    if source == "wheels":
        installed = run(*pip, "--find-links", str(dist), "robustlab-pcloss")
    else:
        copies = [
            shutil.copytree(ROOT / "packages" / name, tmp_path / "src" / name, ignore=NOT_SOURCES)
            for name in ("core", "pcloss")
        ]
        installed = run(*pip, "--no-build-isolation", *map(str, copies))
    assert re.search(r"Successfully installed .*robustlab-core-", installed), installed
    assert "robustlab-pcloss-" in installed
    probe = (
        "import csv, io, importlib.resources as r, robustlab.core, robustlab.pcloss\n"
        "from robustlab.pcloss.paper import PAPER\n"
        "text = r.files('robustlab.pcloss').joinpath('data/pcloss.csv').read_text()\n"
        "print(robustlab.core.__file__)\nprint(robustlab.pcloss.__file__)\n"
        "print(len(list(csv.DictReader(io.StringIO(text)))))\nprint(len(PAPER.published))\n"
    )
    core_file, pcloss_file, rows, cells = run("-c", probe).split()
    for file in (core_file, pcloss_file):
        assert Path(file).is_relative_to(purelib), f"{file} imported from outside the venv"
    shipped = ROOT / "packages" / "pcloss" / "src" / "robustlab" / "pcloss" / "data" / "pcloss.csv"
    with shipped.open(newline="") as f:
        assert int(rows) == len(list(csv.DictReader(f))) > 0
    assert int(cells) > 0
    assert "pcloss" in run("-m", "robustlab", "list", "papers")
