"""Where datasets are looked for, in order, and how a missing one is fetched.

Search order for a dataset split (first hit wins):

1. the explicit ``root`` argument (the directory itself, then the dataset's usual sub-directories);
2. ``$ROBUSTLAB_DATA``;
3. system dataset packages: every directory in :data:`SYSTEM_DATA_DIRS` (Debian's
   ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz``);
4. an existing torchvision cache (``$TORCH_HOME`` or ``~/.cache/torch``, with torchvision's layouts
   such as ``FashionMNIST/raw`` or ``cifar-10-batches-py``);
5. a torchvision download, when ``download=True`` or when ``download=None`` and the dataset's
   server answers within :data:`NETWORK_TIMEOUT_S` seconds (``ROBUSTLAB_OFFLINE=1`` disables it).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from robustlab.core.utils import get_logger

log = get_logger(__name__)

#: System-wide dataset directories (Debian's dataset-* packages). Tests monkeypatch this list.
SYSTEM_DATA_DIRS: list[Path] = [Path("/usr/share/datasets")]

#: Seconds to wait for a dataset server before treating the machine as offline.
NETWORK_TIMEOUT_S = 2.0

_REACHABLE: dict[tuple[str, int], bool] = {}


def env_data_dir() -> Path | None:
    """``$ROBUSTLAB_DATA`` as a path, or None when unset or empty."""
    value = os.environ.get("ROBUSTLAB_DATA", "").strip()
    return Path(value).expanduser() if value else None


def torch_cache_dirs() -> list[Path]:
    """Directories where torchvision datasets are commonly cached, most specific first."""
    torch_home = os.environ.get("TORCH_HOME", "").strip()
    if torch_home:
        base = Path(torch_home).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        base = (Path(xdg) if xdg else Path.home() / ".cache").expanduser() / "torch"
    return [base / "datasets", base / "data", base]


def cache_dir() -> Path:
    """Where decoded arrays are cached: ``$ROBUSTLAB_CACHE`` or ``~/.cache/robustlab``."""
    value = os.environ.get("ROBUSTLAB_CACHE", "").strip()
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache").expanduser() / "robustlab"


def download_dir(root: str | os.PathLike[str] | None) -> Path:
    """Where a download goes: ``root``, else ``$ROBUSTLAB_DATA``, else the torchvision cache."""
    if root is not None:
        return Path(root).expanduser()
    return env_data_dir() or torch_cache_dirs()[0]


def candidate_dirs(
    subdirs: tuple[str, ...], base_ok: bool, root: str | os.PathLike[str] | None
) -> list[Path]:
    """Every directory to check for a dataset, in search order, without duplicates.

    Args:
        subdirs: the dataset's usual directory names relative to a data root.
        base_ok: whether the dataset's files may sit directly in a shared root (True only when
            its file names are unique to it; MNIST and Fashion-MNIST share theirs).
        root: the caller's explicit root; its directory itself is always checked.
    """
    out: list[Path] = []
    if root is not None:
        explicit = Path(root).expanduser()
        out += [explicit, *(explicit / s for s in subdirs)]
    bases = [d for d in (env_data_dir(),) if d is not None]
    bases += list(SYSTEM_DATA_DIRS) + torch_cache_dirs()
    for base in bases:
        out += ([base] if base_ok else []) + [base / s for s in subdirs]
    return list(dict.fromkeys(out))  # first occurrence of each, order kept


def _probe(host: str, port: int, result: list[bool]) -> None:
    try:
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S):
            result.append(True)
    except OSError:
        result.append(False)


def network_available(url: str) -> bool:
    """Whether ``url``'s server accepts a TCP connection within :data:`NETWORK_TIMEOUT_S`.

    Name resolution has no timeout of its own, so the probe runs in a daemon thread that is
    abandoned after the timeout. Results are remembered per host for the process lifetime.
    ``ROBUSTLAB_OFFLINE=1`` makes this return False without probing; with an HTTP(S) proxy
    configured it returns True (the download itself will go through the proxy).
    """
    if os.environ.get("ROBUSTLAB_OFFLINE", "").strip() not in ("", "0"):
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return True  # direct connections may be blocked behind a proxy; let urllib try
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    key = (host, port)
    if key not in _REACHABLE:
        result: list[bool] = []
        thread = threading.Thread(target=_probe, args=(host, port, result), daemon=True)
        thread.start()
        thread.join(NETWORK_TIMEOUT_S + 0.5)
        _REACHABLE[key] = bool(result and result[0])
        log.debug("network probe %s:%d -> %s", host, port, _REACHABLE[key])
    return _REACHABLE[key]
