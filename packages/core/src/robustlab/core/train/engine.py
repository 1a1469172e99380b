"""The training loop every method and paper package reuses: ``train(config, run_dir)``.

Per epoch: the method's loss step on every batch (``replays`` optimiser steps per batch), the
learning rate set per step from a pure schedule function, optional validation / best-epoch
selection, then one atomic training-state checkpoint. A run killed at any point restarts from the
last completed epoch with the same weights, optimiser, scaler, method state and RNG state, so it
ends bit-identical to an uninterrupted run on CPU (data order and augmentation are functions of
(seed, epoch) in ``BatchIterator``). Under ``torchrun`` the same loop trains data-parallel
(:mod:`robustlab.core.train.distributed`): sharded batches, averaged gradients, rank-0 writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustlab.core.errors import RobustlabError
from robustlab.core.train import distributed
from robustlab.core.train.build import build_model, build_optimizer, prepare_data
from robustlab.core.train.config import TrainConfig
from robustlab.core.train.evaluate import accuracy
from robustlab.core.train.method import METHODS, Method, StepContext, TrainContext
from robustlab.core.train.needs import resolve_needs
from robustlab.core.train.precision import (
    autocast_factory,
    make_scaler,
    resolve_channels_last,
    resolve_precision,
)
from robustlab.core.train.progress import ProgressBar, RunLog
from robustlab.core.train.runs import TrainResult, load_run, open_run_dir
from robustlab.core.train.schedules import build_schedule
from robustlab.core.train.state import read_train_state, restore_train_state, save_train_state
from robustlab.core.utils import (
    atomic_write_json,
    config_hash,
    environment_info,
    get_logger,
    seed_everything,
)

log = get_logger(__name__)
STATE_FILE = "train_state.safetensors"


class TrainingDivergedError(RobustlabError):
    """The training loss became NaN or infinite."""


@dataclass
class _Run:
    """Mutable bookkeeping of a run (saved in the training state)."""

    epoch: int = 0  # next epoch to train
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    stopped: bool = False


def train(
    config: TrainConfig | dict[str, Any],
    run_dir: str | Path,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume, or load) the run described by ``config`` in ``run_dir``.

    Args:
        config: A :class:`TrainConfig` or a dict for :meth:`TrainConfig.from_dict`.
        run_dir: The run directory (created). A finished run is loaded, not retrained; an
            interrupted one resumes from its last completed epoch.
        device: "cpu", "cuda", ... or None for the best available (under torchrun: this
            rank's ``cuda:LOCAL_RANK`` for CUDA).
        progress: Show a rich progress bar (rank 0 only).

    Returns:
        :class:`TrainResult` with the selected model, the metrics and the checkpoint path.

    Raises:
        ConfigError: bad configuration, or ``run_dir`` holds a different run.
        TrainingDivergedError: the loss became NaN/inf (lower the learning rate).
    """
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    _, dev = distributed.setup(device)
    distributed.dispatch(config=cfg, run_dir=str(run_dir), device=dev.type, progress=False)
    run_dir = Path(run_dir)
    if distributed.on_main(open_run_dir, cfg, run_dir, distributed.info().enabled):
        log.info("%s is finished; loading it instead of retraining", run_dir)
        return load_run(run_dir, dev)
    return _Trainer(cfg, run_dir, dev, progress).run()


class _Trainer:
    def __init__(
        self, cfg: TrainConfig, run_dir: Path, device: torch.device, progress: bool
    ) -> None:
        from robustlab.core.data import BatchIterator

        self.dist = distributed.info()
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self.show = progress and self.dist.is_main
        needs = resolve_needs(cfg.needs)
        seed_everything(cfg.seed, cfg.deterministic)
        self.data = prepare_data(cfg)
        self.method: Method = METHODS.build(cfg.method, **cfg.method_opts)
        model = build_model(cfg, self.method, self.data)
        self.precision = resolve_precision(cfg.precision, device)
        self.channels_last = resolve_channels_last(cfg.channels_last, self.precision, device, model)
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        self.model = model.to(device).to(memory_format=fmt)
        tr = self.data.train
        # Batches of (x, training-set index); labels are gathered by index (same order and
        # augmentation as iterating (x, y): both are functions of (seed, epoch, N) only).
        self.labels = tr.y.to(device)
        self.batches = BatchIterator(
            tr.x,
            torch.arange(len(tr.y), device=tr.x.device),
            cfg.batch_size,
            seed=cfg.seed,
            augment=self.data.augment,
            device=device,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        self.steps_per_epoch = len(self.batches) * self.method.replays
        self.ctx = TrainContext(
            config=cfg,
            device=device,
            num_classes=self.data.info.num_classes,
            in_channels=self.data.info.in_channels,
            image_size=tuple(self.data.info.image_size),
            epochs=cfg.epochs,
            steps_per_epoch=self.steps_per_epoch,
            precision=self.precision,
            autocast=autocast_factory(self.precision, device),
            train_size=len(tr.y),
            needs=needs,
        )
        self.method.setup(self.model, self.ctx)
        self.extras = self.method.extra_modules()
        for mod in self.extras.values():
            mod.to(device).to(memory_format=fmt)
        params = list(self.model.parameters())
        for mod in self.method.trainable_modules().values():
            params += list(mod.parameters())
        self.params = params
        self.replicas = distributed.Replicas(
            params, [self.model, *self.extras.values()], self.method
        )
        self.optimizer = build_optimizer(cfg, params)
        self.scaler = make_scaler(self.precision, device)
        self.schedule = build_schedule(
            cfg.schedule, cfg.lr, cfg.epochs, self.steps_per_epoch, cfg.warmup, **cfg.schedule_opts
        )
        self.select_metric = cfg.select_metric
        if self.select_metric == "auto":
            self.select_metric = "robust" if self.method.val_attack() is not None else "clean"
        self.state = _Run()
        self.runlog = RunLog(run_dir, tensorboard=self.dist.is_main)

    # ------------------------------------------------------------------ resume / checkpoint
    def _resume(self) -> None:
        path = self.run_dir / STATE_FILE
        if not path.exists():
            return
        tensors, meta = read_train_state(path)
        method_state = restore_train_state(
            tensors,
            meta,
            model=self.model,
            extras=self.extras,
            optimizer=self.optimizer,
            scaler=self.scaler,
        )
        self.method.load_state_dict(distributed.own_method_state(method_state, self.dist.rank))
        self.state = _Run(meta["epoch"], meta["history"], meta["best"], meta["stopped"])
        log.info("resuming %s at epoch %d/%d", self.run_dir, self.state.epoch + 1, self.cfg.epochs)

    def _checkpoint(self) -> None:
        method_state = distributed.gather_method_state(self.method.state_dict())
        distributed.on_main(self._save, method_state)

    def _save(self, method_state: dict[str, Any]) -> None:
        s = self.state
        meta = {"config": self.cfg.to_dict(), "epoch": s.epoch, "history": s.history}
        meta.update(best=s.best, stopped=s.stopped, precision=self.precision)
        meta["schedule"] = {  # a pure function of the step: (name, options, next step) restore it
            "name": self.cfg.schedule,
            "warmup": self.cfg.warmup,
            "next_step": s.epoch * self.steps_per_epoch,
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        save_train_state(
            self.run_dir / STATE_FILE,
            model=self.model,
            extras=self.extras,
            optimizer=self.optimizer,
            scaler=self.scaler,
            method_state=method_state,
            meta=meta,
        )
        self.runlog.write(s.history)

    # ------------------------------------------------------------------ one epoch
    def _train_epoch(self, epoch: int, bar: ProgressBar) -> dict[str, float]:
        if self.dist.enabled:  # per-rank RNG streams that a resumed run reproduces
            distributed.reseed(self.cfg.seed, epoch, self.dist.rank)
        self.method.on_epoch_start(epoch, self.ctx)
        self.model.train()
        self.batches.set_epoch(epoch)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, shown, start = 0, 0, time.perf_counter()
        extra: dict[str, float] = {}
        reps = self.method.replays
        for i, (x, index) in enumerate(self.batches):
            y = self.labels.index_select(0, index)
            w = self.replicas.step_weight(len(y), self.batches.global_batch_size(i))
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for r in range(reps):
                out = self._step(epoch, i * reps + r, r, x, y, index)
                loss_sum += out.loss.detach().float() * w  # w = 1 in a single process
                if out.logits is not None:
                    correct += (out.logits.argmax(1) == y).sum()
                for k, v in out.metrics.items():
                    extra[k] = extra.get(k, 0.0) + float(v) * w
                seen += len(y)
            if self.show and (i % 10 == 9 or i == len(self.batches) - 1):
                n = (i + 1) * reps
                bar.update(epoch, n - shown, {
                    "loss": float(loss_sum) / n,
                    "acc": 100.0 * float(correct) / seen,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "img/s": seen / max(time.perf_counter() - start, 1e-9),
                })  # fmt: skip
                shown = n
        seconds = time.perf_counter() - start
        n_steps = len(self.batches) * reps
        loss_total, n_correct, seen, extra = self.replicas.epoch_totals(
            loss_sum, correct, seen, extra
        )
        loss = loss_total / n_steps
        if not torch.isfinite(torch.tensor(loss)):
            raise TrainingDivergedError(
                f"training loss is {loss} in epoch {epoch + 1}; lower lr (now {self.cfg.lr}) or use fp32"
            )
        stats = {"epoch": epoch + 1, "train_loss": loss, "train_acc": 100.0 * n_correct / seen}
        stats.update({k: v / n_steps for k, v in extra.items()})
        stats.update(
            lr=self.optimizer.param_groups[0]["lr"], seconds=seconds, img_per_s=seen / seconds
        )
        return stats

    def _step(
        self,
        epoch: int,
        it: int,
        replay: int,
        x: torch.Tensor,
        y: torch.Tensor,
        index: torch.Tensor,
    ) -> Any:
        lr = self.schedule(epoch, it)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        sctx = StepContext(
            epoch,
            it // self.method.replays,
            epoch * self.steps_per_epoch + it,
            replay,
            lr,
            self.ctx,
            index,
        )
        self.method.before_step(self.model, sctx)
        with self.ctx.autocast():
            out = self.method.loss(self.model, x, y, sctx)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        self.replicas.after_backward()
        if self.cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.method.after_step(self.model, sctx)
        return out

    # ------------------------------------------------------------------ selection
    def _acc(self, split: Any, robust: bool) -> float:
        attack = self.method.val_attack() if robust else None
        return accuracy(
            self.model,
            split.x,
            split.y,
            device=self.device,
            attack=attack,
            channels_last=self.channels_last,
        )

    def _select(self, stats: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Rank 0: validate, keep the best checkpoint; returns (stats, best) for every rank."""
        by = self.cfg.select_best
        if by == "none":
            return stats, self.state.best
        split = self.data.val if by == "val" else self.data.test
        robust = self.select_metric == "robust"
        stats[f"{by}_clean_acc"] = self._acc(split, False)
        if robust:
            stats[f"{by}_robust_acc"] = self._acc(split, True)
        score = stats[f"{by}_robust_acc" if robust else f"{by}_clean_acc"]
        if self.state.best is None or score > self.state.best["score"]:
            from robustlab.core.models import save_checkpoint

            self.state.best = {"epoch": stats["epoch"], "score": score}
            save_checkpoint(
                self.run_dir / "best.safetensors", self.model, self._ckpt_meta(stats["epoch"])
            )
        return stats, self.state.best

    def _ckpt_meta(self, epoch: int) -> dict[str, Any]:
        return {"train_config": self.cfg.to_dict(), "epoch": epoch, "method": self.cfg.method}

    # ------------------------------------------------------------------ main
    def run(self) -> TrainResult:
        self._resume()
        self.replicas.start()
        bar = ProgressBar(self.show, self.cfg.epochs, self.steps_per_epoch, self.state.epoch)
        try:
            while self.state.epoch < self.cfg.epochs and not self.state.stopped:
                epoch = self.state.epoch
                stats = self._train_epoch(epoch, bar)
                self.method.on_epoch_end(epoch, self.ctx, self.model)
                distributed.sync_modules(self.replicas.modules)
                stats, self.state.best = distributed.on_main(self._select, stats)
                self.state.history.append(stats)
                self.state.epoch = epoch + 1
                self.state.stopped = distributed.on_main(bool, self.method.stop_training)
                self._checkpoint()
        finally:
            bar.close()
            self.runlog.close()
            self.replicas.close()
        return self._finish()

    def _finish(self) -> TrainResult:
        from robustlab.core.models import load_checkpoint

        metrics = distributed.on_main(self._final_metrics)
        chosen = self.run_dir / metrics["checkpoint"]
        if not self.dist.is_main and self.state.best is not None:
            load_checkpoint(chosen, self.model)
        self.model.eval()
        return TrainResult(self.model, metrics, self.run_dir, chosen)

    def _final_metrics(self) -> dict[str, Any]:
        """Rank 0: final checkpoint, test accuracy, ``metrics.json`` (the selected model loaded)."""
        from robustlab.core.models import load_checkpoint, save_checkpoint

        s = self.state
        final = save_checkpoint(
            self.run_dir / "model.safetensors", self.model, self._ckpt_meta(s.epoch)
        )
        metrics: dict[str, Any] = {"final_clean_acc": self._acc(self.data.test, False)}
        chosen = final
        if s.best is not None:
            chosen = self.run_dir / "best.safetensors"
            load_checkpoint(chosen, self.model)
            metrics["best_epoch"] = s.best["epoch"]
            metrics["best_score"] = s.best["score"]
        metrics["clean_acc"] = self._acc(self.data.test, False)
        total_s = sum(h["seconds"] for h in s.history)
        metrics.update(
            finished=True,
            checkpoint=chosen.name,
            epochs_completed=s.epoch,
            early_stopped=s.stopped and s.epoch < self.cfg.epochs,
            selection={
                "by": self.cfg.select_best,
                "metric": self.select_metric,
                "uses_test_set": self.cfg.select_best == "test",
            },
            n_test=len(self.data.test.y),
            history=s.history,
            train_seconds=total_s,
            img_per_s=sum(h["img_per_s"] * h["seconds"] for h in s.history) / max(total_s, 1e-9),
            precision=self.precision,
            channels_last=self.channels_last,
            method=self.cfg.method,
            method_options=self.method.options(),
            config=self.cfg.to_dict(),
            config_hash=config_hash(self.cfg.to_dict()),
            seed=self.cfg.seed,
            environment=environment_info(self.device),
        )
        atomic_write_json(self.run_dir / "metrics.json", metrics)
        return metrics
