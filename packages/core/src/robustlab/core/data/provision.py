"""``ensure(name)``: make a dataset present before a long job starts.

Order: already on disk -> done; a Debian dataset package when running as root on Debian
(:data:`APT_PACKAGES`; ``apt-get install -y``, with ``apt-get update`` and a retry if the first
install fails) -> done; a torchvision download when the server answers -> done; else one :class:`DataNotFoundError`
that says where we looked and how to fix it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from robustlab.core.data.catalog import DATASETS, SPLITS, find, not_found_error, try_download
from robustlab.core.utils import get_logger

log = get_logger(__name__)

#: Datasets that a Debian package provides (installed under /usr/share/datasets/...).
APT_PACKAGES: dict[str, str] = {"fashion-mnist": "dataset-fashion-mnist"}
APT_TIMEOUT_S = 900


def can_use_apt() -> bool:
    """True when running as root on Debian (``/etc/debian_version``) with ``apt-get`` on PATH."""
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return is_root and Path("/etc/debian_version").is_file() and shutil.which("apt-get") is not None


def run_command(cmd: list[str]) -> tuple[int, str]:
    """Run ``cmd`` non-interactively; return (exit code, combined output). Never raises."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=APT_TIMEOUT_S, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, f"{type(exc).__name__}: {exc}"
    return proc.returncode, (proc.stdout or "") + (proc.stderr or "")


def _missing(name: str, root: str | os.PathLike[str] | None) -> list[str]:
    return [split for split in SPLITS if find(name, split, root)[0] is None]


def _apt_install(package: str) -> str:
    """Install ``package`` with apt-get (update and retry once); return "" or why it failed."""
    rc, out = run_command(["apt-get", "install", "-y", package])
    if rc != 0:
        log.info("apt-get install %s failed; running apt-get update and retrying", package)
        run_command(["apt-get", "update"])
        rc, out = run_command(["apt-get", "install", "-y", package])
    if rc != 0:
        last = out.strip().splitlines()[-1] if out.strip() else f"exit code {rc}"
        return f"apt-get install -y {package} failed ({last})."
    return ""


def ensure(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Make both splits of dataset ``name`` present on disk.

    Args:
        name: a registered dataset.
        root: optional directory searched first and used as the download target.

    Returns:
        The directory holding the training split.

    Raises:
        UnknownNameError: unknown dataset.
        DataNotFoundError: still missing after the package manager and the download were tried.
    """
    spec = DATASETS.get(name)
    reasons: list[str] = []
    missing = _missing(name, root)
    if missing and name in APT_PACKAGES:
        if can_use_apt():
            log.info("installing %s with apt-get", APT_PACKAGES[name])
            reasons.append(_apt_install(APT_PACKAGES[name]))
            missing = _missing(name, root)
        else:
            reasons.append(f"Not root on Debian, so apt-get install {APT_PACKAGES[name]} skipped.")
    for split in list(missing):
        failure = try_download(spec, split, root, download=None)
        if failure:  # same server for both splits: one failure is enough
            reasons.append(failure)
            break
    missing = _missing(name, root)
    if missing:
        why = " ".join(r for r in reasons if r)
        raise not_found_error(name, missing[0], find(name, missing[0], root)[1], why)
    found = find(name, "train", root)[0]
    assert found is not None
    log.info("%s is present at %s", name, found)
    return found
