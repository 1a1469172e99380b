"""Small utilities shared by every core module: seeding, devices, logging, atomic I/O, run metadata."""

from robustlab.core.utils.device import get_device
from robustlab.core.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from robustlab.core.utils.logging import get_logger
from robustlab.core.utils.meta import config_hash, environment_info, git_sha
from robustlab.core.utils.seed import rng_state, seed_everything, set_rng_state

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "config_hash",
    "environment_info",
    "get_device",
    "get_logger",
    "git_sha",
    "rng_state",
    "seed_everything",
    "set_rng_state",
]
