"""Resumable evaluation state: per-example flags per attack and batch progress, saved atomically.

The state file is JSON. Flags are strings with one character per example: ``1`` correct/robust,
``0`` not, ``-`` not evaluated yet. A state is only resumed by an evaluation with the same
configuration hash (model parameters, data, suite, batch size, seed); anything else is an error
naming the file, never a silent mix of two evaluations.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from robustlab.core.errors import ConfigError
from robustlab.core.utils import atomic_write_json

STATE_VERSION = 1
_CHAR = {-1: "-", 0: "0", 1: "1"}
_VAL = {"-": -1, "0": 0, "1": 1}


@dataclass
class EvalState:
    """Progress of one evaluation.

    Attributes:
        config_hash: Hash of what is evaluated; a resumed state must match it.
        n: Number of examples.
        labels: "clean" followed by the attack labels.
        next_batch: Index of the first batch not finished.
        flags: label -> int8 tensor (n,), -1 pending, 0 wrong/broken, 1 correct/robust.
        times: label -> accumulated wall seconds.
        nonfinite: Number of examples whose clean or adversarial logits had NaN/inf.
        violation: label -> largest excess of ``x_adv`` outside the threat model seen so far.
    """

    config_hash: str
    n: int
    labels: list[str]
    next_batch: int = 0
    flags: dict[str, torch.Tensor] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    nonfinite: int = 0
    violation: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label in self.labels:
            self.flags.setdefault(label, torch.full((self.n,), -1, dtype=torch.int8))
            self.times.setdefault(label, 0.0)
            self.violation.setdefault(label, 0.0)

    def set(self, label: str, start: int, values: torch.Tensor) -> None:
        """Store the flags of one batch starting at example ``start``."""
        self.flags[label][start : start + values.numel()] = values.to("cpu", torch.int8)

    def done(self, label: str) -> torch.Tensor:
        """Boolean flags (n,) of a finished evaluation; raises if any example is pending."""
        f = self.flags[label]
        if (f < 0).any():
            raise RuntimeError(
                f"evaluation of {label!r} is incomplete ({int((f < 0).sum())} pending)"
            )
        return f.bool()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "config_hash": self.config_hash,
            "n": self.n,
            "labels": self.labels,
            "next_batch": self.next_batch,
            "flags": {k: "".join(_CHAR[int(v)] for v in f.tolist()) for k, f in self.flags.items()},
            "times": self.times,
            "nonfinite": self.nonfinite,
            "violation": self.violation,
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state atomically (a crash mid-write keeps the previous state)."""
        atomic_write_json(path, self.to_json(), indent=0)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None, config_hash: str, n: int, labels: list[str]
    ) -> EvalState:
        """A fresh state, or the one stored at ``path`` if it exists and matches ``config_hash``.

        Raises:
            ConfigError: if the file belongs to a different evaluation or is unreadable.
        """
        if path is None or not Path(path).exists():
            return cls(config_hash, n, list(labels))
        try:
            data = json.loads(Path(path).read_text())
            stored = (data["version"], data["config_hash"], data["n"], data["labels"])
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"evaluation state {path} is unreadable ({exc}); delete it to start over"
            ) from exc
        if stored != (STATE_VERSION, config_hash, n, list(labels)):
            raise ConfigError(
                f"evaluation state {path} belongs to a different evaluation (model, data, suite, "
                f"batch size or seed changed); delete it or pass another state_path"
            )
        flags = {
            k: torch.tensor([_VAL[c] for c in s], dtype=torch.int8)
            for k, s in data["flags"].items()
        }
        return cls(
            config_hash,
            n,
            list(labels),
            next_batch=int(data["next_batch"]),
            flags=flags,
            times={k: float(v) for k, v in data["times"].items()},
            nonfinite=int(data["nonfinite"]),
            violation={k: float(v) for k, v in data["violation"].items()},
        )
