"""The result of an evaluation: accuracies, per-example flags, timings, sanity-check flags.

JSON layout (``EvalResult.to_json``): RobustBench's model-entry keys at the top level, with
RobustBench's conventions (accuracies as percent strings with two decimals, ``eps`` as "8/255"),
and everything else under the ``robustlab`` key with plain numbers::

    {"dataset": "fashion-mnist", "architecture": "lenet5", "eps": "8/255", "clean_acc": "91.20",
     "autoattack_acc": "...", "threat_model": ..., "robustlab": {"clean_acc": 91.2, "robust_acc": {...}, ...}}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from robustlab.core.eval.eps import format_eps
from robustlab.core.utils import atomic_write_json

#: Keys of a RobustBench model entry (``model_info/<dataset>/<threat>/<model>.json``).
ROBUSTBENCH_KEYS = (
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
)


@dataclass
class EvalResult:
    """Everything an evaluation measured.

    Accuracies are percentages in [0, 100] over ``n`` examples. ``per_example`` maps "clean", each
    attack label and "worst_case" to a list of ``n`` booleans (True: correctly classified / robust).
    In worst-case mode (``worst_case=True``) the accuracy of an attack is cumulative (robust to it
    and every attack before it); otherwise each attack is measured on all clean-correct examples.
    ``flags`` maps each sanity check's name to ``{"passed": bool | None, "detail": str}``
    (None: not applicable). ``early_stop``: the harness ran the attacks with worst-case early stop
    (fooled examples stopped at their fooling iterate; False in results written before it existed).
    """

    suite: str
    attacks: list[dict[str, Any]]
    worst_case: bool
    n: int
    clean_acc: float
    robust_acc: dict[str, float]
    worst_case_acc: float
    per_example: dict[str, list[bool]]
    times: dict[str, float]
    flags: dict[str, dict[str, Any]]
    eps: float | None = None
    norm: str | None = None
    seed: int = 0
    batch_size: int = 256
    device: str = "cpu"
    dtype: str = "torch.float32"
    dataset: str | None = None
    architecture: str | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    config_hash: str = ""
    wall_time: float = 0.0
    eps_sweep: list[dict[str, float]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    early_stop: bool = False

    @property
    def mode(self) -> str:
        """ "worst_case" (AutoAttack protocol, cumulative accuracies) or "independent"."""
        return "worst_case" if self.worst_case else "independent"

    @property
    def failed_checks(self) -> list[str]:
        """Names of the sanity checks that failed."""
        return sorted(k for k, v in self.flags.items() if v.get("passed") is False)

    @property
    def autoattack_acc(self) -> float | None:
        """Accuracy under standard AutoAttack, when the suite ran it."""
        for spec in self.attacks:
            if (
                spec["attack"] == "autoattack"
                and spec["kwargs"].get("version", "standard") == "standard"
            ):
                return self.robust_acc[spec["label"]]
        return None

    def to_frame(self) -> pd.DataFrame:
        """One row per measurement: clean, each attack, worst case.

        Columns: label, attack, eps, norm, accuracy (percent), time_s, n, mode.
        """
        rows = [
            {
                "label": "clean",
                "attack": "none",
                "eps": 0.0,
                "norm": None,
                "accuracy": self.clean_acc,
                "time_s": self.times.get("clean", 0.0),
            }
        ]
        for spec in self.attacks:
            eps = spec["kwargs"].get("eps")
            rows.append(
                {
                    "label": spec["label"],
                    "attack": spec["attack"],
                    "eps": _eps_float(eps),
                    "norm": spec["kwargs"].get("norm", self.norm),
                    "accuracy": self.robust_acc[spec["label"]],
                    "time_s": self.times.get(spec["label"], 0.0),
                }
            )
        rows.append(
            {
                "label": "worst_case",
                "attack": "suite",
                "eps": self.eps,
                "norm": self.norm,
                "accuracy": self.worst_case_acc,
                "time_s": sum(self.times.values()),
            }
        )
        frame = pd.DataFrame(rows)
        frame["n"] = self.n
        frame["mode"] = self.mode
        return frame

    def to_json(self, **model_info: Any) -> dict[str, Any]:
        """RobustBench model-entry keys plus a ``robustlab`` key with everything else.

        Args:
            **model_info: Extra RobustBench fields to fill (name, link, authors, venue, ...).
        """
        entry: dict[str, Any] = {
            "dataset": self.dataset,
            "architecture": self.architecture,
            "eps": format_eps(self.eps) if self.eps is not None else None,
            "clean_acc": f"{self.clean_acc:.2f}",
            "number_forward_passes": 1,
            "additional_data": False,
        }
        if self.autoattack_acc is not None:
            entry["autoattack_acc"] = f"{self.autoattack_acc:.2f}"
        unknown = sorted(set(model_info) - set(ROBUSTBENCH_KEYS))
        if unknown:
            raise ValueError(f"unknown RobustBench keys {unknown}; valid: {list(ROBUSTBENCH_KEYS)}")
        entry.update(model_info)
        body = asdict(self)
        body["per_example"] = {
            k: "".join("1" if b else "0" for b in v) for k, v in self.per_example.items()
        }
        body["eps_str"] = entry["eps"]
        body["mode"] = self.mode
        body["failed_checks"] = self.failed_checks
        body["threat_model"] = self.norm
        entry["robustlab"] = body
        return entry

    def save(self, path: str | os.PathLike[str], **model_info: Any) -> Path:
        """Write :meth:`to_json` atomically to ``path``."""
        return atomic_write_json(path, self.to_json(**model_info))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalResult:
        """Rebuild a result from :meth:`to_json` output."""
        if "robustlab" not in data:
            raise ValueError("not a robustlab evaluation result: the 'robustlab' key is missing")
        body = dict(data["robustlab"])
        body["per_example"] = {k: [c == "1" for c in v] for k, v in body["per_example"].items()}
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in names})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvalResult:
        """Read a result written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text()))

    def summary(self) -> str:
        """A few human-readable lines (for logs and the CLI)."""
        lines = [f"clean {self.clean_acc:.2f}%  (n={self.n}, suite={self.suite}, mode={self.mode})"]
        lines += [f"{k:>14}: {v:.2f}%" for k, v in self.robust_acc.items()]
        lines.append(f"{'worst case':>14}: {self.worst_case_acc:.2f}%")
        failed = self.failed_checks
        lines.append(
            "sanity checks: " + ("FAILED " + ", ".join(failed) if failed else "all passed")
        )
        return "\n".join(lines)


def _eps_float(eps: Any) -> float | None:
    if eps is None:
        return None
    from robustlab.core.eval.eps import parse_eps

    return parse_eps(eps)
