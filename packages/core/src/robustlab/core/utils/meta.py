"""Run metadata: versions, git SHA, hardware, and a stable hash of a configuration."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path
from typing import Any

import torch

#: Entry-point group of paper packages (``robustlab.core.plugins.GROUP``; utils sits below plugins
#: in the layer order, so the name is repeated here, and a test keeps the two equal).
PAPER_GROUP = "robustlab.papers"


@lru_cache(maxsize=1)
def git_sha(cwd: str | None = None) -> str | None:
    """The current git commit of the working tree (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment_info(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions of python/torch/robustlab packages, git SHA, CPU/GPU names."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "robustlab-core": _dist_version("robustlab-core"),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "git_sha": git_sha(),
    }
    for ep in sorted(entry_points(group=PAPER_GROUP), key=lambda e: e.name):
        # The distribution's version is read from its metadata: no paper package is imported.
        dist = getattr(ep, "dist", None)
        info[f"robustlab-{ep.name}"] = (
            dist.version if dist is not None else _dist_version(f"robustlab-{ep.name}")
        )
    dev = torch.device(device) if device is not None else None
    if dev is not None:
        info["device"] = str(dev)
        if dev.type == "cuda" and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def config_hash(config: Any, length: int = 12) -> str:
    """A short stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
