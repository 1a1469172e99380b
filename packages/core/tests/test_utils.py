"""Utilities: seeding, devices, atomic writes, config hashes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from robustlab.core.utils import (
    atomic_write_json,
    config_hash,
    get_device,
    rng_state,
    seed_everything,
    set_rng_state,
)


def test_seed_everything_controls_all_rngs() -> None:
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_rng_state_roundtrip() -> None:
    seed_everything(0)
    state = rng_state()
    x = torch.rand(4)
    set_rng_state(state)
    assert torch.equal(x, torch.rand(4))


def test_negative_seed_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_device_choice() -> None:
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(None).type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        get_device("tpu9")


def test_atomic_write_json(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "sub" / "m.json", {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


def test_config_hash_stable_and_order_free() -> None:
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
