"""Helpers for the wrappers around the official AutoAttack code (PyPI ``pyautoattack``)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import torch

from robustlab.core.utils import get_logger

log = get_logger(__name__)


@contextlib.contextmanager
def quiet_official_code(device: torch.device) -> Iterator[None]:
    """Run the official code without side effects on this process.

    Its ``print`` output is captured and re-emitted as DEBUG log records, and torch's global RNG
    state is restored afterwards (the official attacks call ``torch.manual_seed(seed)``).
    """
    buffer = io.StringIO()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), contextlib.redirect_stdout(buffer):
        yield
    text = buffer.getvalue().strip()
    if text:
        log.debug("pyautoattack output:\n%s", text)
