"""Progress display and per-run logs: a rich progress bar, ``train_log.jsonl``, optional TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from robustlab.core.utils import atomic_write_text, get_logger

log = get_logger(__name__)


class ProgressBar:
    """A rich progress bar over all steps of the run (epoch, loss, acc, lr, img/s); no-op if off."""

    def __init__(
        self, enabled: bool, total_epochs: int, steps_per_epoch: int, start_epoch: int
    ) -> None:
        self._progress: Any = None
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train",
            total=total_epochs * steps_per_epoch,
            completed=start_epoch * steps_per_epoch,
            epoch=start_epoch + 1,
            epochs=total_epochs,
            stats="",
        )

    def update(self, epoch: int, advance: int, stats: dict[str, float]) -> None:
        """Advance by ``advance`` steps and show ``stats`` (loss, acc, lr, img/s)."""
        if self._progress is None:
            return
        text = "  ".join(f"{k} {v:.4g}" for k, v in stats.items())
        self._progress.update(self._task, advance=advance, epoch=epoch + 1, stats=text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class RunLog:
    """``train_log.jsonl`` (one JSON line per epoch, rewritten from the run history so that a
    resumed run never holds lines of epochs it re-trained) and optional TensorBoard scalars."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.path = run_dir / "train_log.jsonl"
        self._tb: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self._tb = None

    def write(self, history: list[dict[str, Any]]) -> None:
        atomic_write_text(self.path, "".join(json.dumps(h, sort_keys=True) + "\n" for h in history))
        if self._tb is not None and history:
            last = history[-1]
            for k, v in last.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self._tb.add_scalar(k, v, last["epoch"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
