#!/usr/bin/env python3
"""Bootstrap for a fresh checkout: one shared environment, then nox in it.

    python3 dev.py -s reproduce-ctr            # the main job: CTR's quick report
    python3 dev.py -s lint typecheck tests     # the test suite

Every argument is passed to nox unchanged (``python3 dev.py -l`` lists the sessions). The
first call creates ONE virtual environment, ``.venv`` next to this file (``$ROBUSTLAB_VENV``
overrides the place), and installs torch, torchvision and nox into it; later calls reuse it
without running pip (a stamp file in the environment records what was installed). nox then
runs in that environment with ``.venv/bin`` first on ``PATH``; its sessions share the same
environment (``venv_backend="none"``) and install the workspace packages into it themselves.

Needs only a Python 3.10+ interpreter with the standard library: pip is never run outside the
new environment, so a distribution's "externally managed" Python (PEP 668) is fine. Where the
interpreter cannot create environments (Debian without ``python3-venv``), running as root on
Debian installs that package; otherwise the error says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_ENV = "ROBUSTLAB_VENV"
# torch/torchvision: this project's tested pair (the packages themselves accept a range).
REQUIREMENTS = ("torch==2.14.1", "torchvision==0.29.1", "nox>=2024.4")
STAMP_NAME = "robustlab-bootstrap.txt"


class BootstrapError(RuntimeError):
    """The environment could not be set up; the message says what to do."""


def venv_dir() -> Path:
    """Where the shared environment lives: ``$ROBUSTLAB_VENV`` or ``.venv`` beside this file."""
    return Path(os.environ.get(VENV_ENV) or ROOT / ".venv").absolute()


def bin_dir(venv: Path) -> Path:
    """The environment's scripts folder (``bin``; ``Scripts`` on Windows)."""
    return venv / ("Scripts" if os.name == "nt" else "bin")


def venv_python(venv: Path) -> Path:
    """The environment's interpreter."""
    return bin_dir(venv) / ("python.exe" if os.name == "nt" else "python")


def _say(message: str) -> None:
    sys.stderr.write(f"dev.py: {message}\n")
    sys.stderr.flush()


def _is_debian_root() -> bool:
    return (
        os.name == "posix"
        and hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("apt-get") is not None
    )


def _make_venv(venv: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )


def create_venv(venv: Path, python: str = sys.executable) -> None:
    """Create ``venv`` with pip, installing Debian's ``python3-venv`` first where needed.

    Raises:
        BootstrapError: the interpreter cannot create environments and this is not root on
            Debian; the message names the package to install.
    """
    result = _make_venv(venv, python)
    if result.returncode != 0 and "ensurepip" in result.stdout + result.stderr:
        shutil.rmtree(venv, ignore_errors=True)
        if _is_debian_root():
            minor = f"python3.{sys.version_info.minor}-venv"
            _say(f"installing Debian's {minor} (this Python lacks ensurepip)")
            subprocess.run(["apt-get", "update", "-qq"], check=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", minor],
                check=True,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
            result = _make_venv(venv, python)
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise BootstrapError(
            f"could not create the environment {venv} with {python}:\n"
            f"{(result.stdout + result.stderr).strip()}\n"
            "fix: install the interpreter's venv module (Debian/Ubuntu: "
            f"`sudo apt-get install python3.{sys.version_info.minor}-venv`) and run dev.py again"
        )


def ensure_venv(
    venv: Path,
    requirements: Sequence[str] = REQUIREMENTS,
    pip_args: Sequence[str] = (),
    python: str = sys.executable,
) -> Path:
    """Create ``venv`` if missing and install ``requirements`` unless already done; return its Python.

    Args:
        venv: Folder of the environment.
        requirements: pip requirement strings. They are installed when the stamp file in the
            environment does not list exactly these (first run, or changed requirements).
        pip_args: Extra pip arguments (e.g. ``--no-index --find-links DIR``).
        python: Interpreter that creates the environment.

    Raises:
        BootstrapError: the environment cannot be created or pip fails.
    """
    py = venv_python(venv)
    if not py.exists():
        _say(f"creating {venv} (once; later runs reuse it)")
        create_venv(venv, python)
    stamp = venv / STAMP_NAME
    wanted = "\n".join(requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return py
    if requirements:
        _say(f"installing {' '.join(requirements)} into {venv}")
        pip = [str(py), "-m", "pip", "install", "--quiet", *pip_args, *requirements]
        if subprocess.run(pip, check=False).returncode != 0:
            raise BootstrapError(
                f"pip could not install {' '.join(requirements)} into {venv}; see pip's "
                "message above (fix the package source, or delete the folder and run again)"
            )
    stamp.write_text(wanted)
    return py


def nox_environment(venv: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment nox runs with: ``venv`` activated (its scripts first on ``PATH``)."""
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONHOME", None)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(bin_dir(venv)), env.get("PATH", "")])
    return env


def main(argv: Sequence[str]) -> int:
    """Set up (or reuse) the environment, then replace this process by ``nox ARGV`` in it."""
    if sys.version_info < (3, 10):  # noqa: UP036 (a fresh machine may have an older python3)
        _say("robustlab needs Python 3.10 or newer")
        return 2
    venv = venv_dir()
    try:
        py = ensure_venv(venv)
    except BootstrapError as err:
        _say(str(err))
        return 1
    cmd = [str(py), "-m", "nox", "-f", str(ROOT / "noxfile.py"), *argv]
    env = nox_environment(venv)
    if os.name == "posix":
        os.chdir(ROOT)
        os.execve(str(py), cmd, env)  # never returns
    return subprocess.run(cmd, env=env, cwd=ROOT, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
