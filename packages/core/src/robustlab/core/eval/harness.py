"""``evaluate(model, data, suite)``: run an attack suite over a test set in batches.

Protocol per batch of examples (inputs in [0, 1], fp32):

1. Clean logits -> correct flags. Misclassified clean examples count as not robust and are never
   attacked (as AutoAttack does).
2. For each attack of the suite, in order: worst-case mode attacks only the examples still robust
   after the attacks before it (accuracies are cumulative; the last equals the worst case);
   independent mode attacks every clean-correct example (each attack's accuracy stands alone).
   The worst case per example is the AND over attacks in both modes.
   Worst-case mode runs every attack that takes ``early_stop`` with ``early_stop=True`` unless its
   settings fix it (``evaluate(early_stop=...)`` changes the default): an example misclassified at
   any iterate is done (AutoAttack's protocol: that iterate is its adversarial example and it
   counts as not robust) and leaves the attacked batch, which shrinks as examples fall. Robust
   accuracy can only go down by this (an example robust with early stop is robust without it);
   independent mode keeps each attack's own setting. The sanity checks' default PGD-10 then
   early-stops as well.
3. Each ``x_adv`` is checked against the threat model; logits are checked for NaN/inf.

Randomness: before attack ``i`` on batch ``b`` torch is seeded with a seed derived from
``(seed, b, i)`` and the attack is built with that seed, so a batch's result does not depend on
which batches ran before it in this process; this is what makes resuming exact.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks.base import Attack
from robustlab.core.eval.checks import CHECK_PGD_EARLY_STOP, SanityConfig, threat_violation
from robustlab.core.eval.result import EvalResult
from robustlab.core.eval.sanity import run_sanity
from robustlab.core.eval.state import EvalState
from robustlab.core.eval.suites import AttackSpec, Suite, resolve_suite
from robustlab.core.utils import config_hash, environment_info, get_device, get_logger

log = get_logger(__name__)


def derive_seed(seed: int, batch: int, attack: int) -> int:
    """The seed of attack ``attack`` on batch ``batch`` (stable across runs and resumes)."""
    digest = hashlib.sha256(f"{seed}:{batch}:{attack}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def evaluate(
    model: nn.Module,
    data: str | tuple[Tensor, Tensor],
    suite: str | Suite | Sequence[AttackSpec | str],
    n: int | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    state_path: str | os.PathLike[str] | None = None,
    seed: int = 0,
    progress: bool = True,
    *,
    eps: float | str | None = None,
    norm: str | None = None,
    checks: bool | SanityConfig = True,
    dataset: str | None = None,
    architecture: str | None = None,
    meta: dict[str, Any] | None = None,
    batch_offset: int = 0,
    early_stop: bool | None = None,
) -> EvalResult:
    """Evaluate ``model`` under an attack suite.

    Args:
        model: Classifier mapping (B, C, H, W) inputs in [0, 1] to (B, K) logits. It is moved to
            ``device`` and put in eval mode; its train/eval mode is restored afterwards.
        data: A dataset name (its test split, via ``robustlab.core.data.load``) or a pair
            ``(x (N, C, H, W) in [0, 1], y (N,) int64)``.
        suite: A registered suite name ("pgd20"), a suite string ("fgsm;pgd:steps=20"), a
            :class:`Suite`, or a list of :class:`AttackSpec` / spec strings.
        n: Evaluate the first ``n`` examples (papers use the first 1000/2000); None: all.
        batch_size: Examples per batch (>= 1).
        device: "cpu", "cuda", ... or None for the best available.
        state_path: JSON file for progress; an interrupted evaluation with the same model, data,
            suite, batch size and seed resumes from it without recomputing finished batches.
        seed: Base seed of the attacks' randomness.
        progress: Show a rich progress bar.
        eps: Budget for a suite given by name or string (e.g. "8/255"); None: the suite's default.
        norm: "Linf" or "L2" for a suite given by name; None: the suite's default.
        checks: True (default settings), False (no sanity checks) or a :class:`SanityConfig`.
        dataset: Dataset name to record when ``data`` is a tensor pair.
        architecture: Architecture name to record (default: the model's ``arch`` attribute or
            class name).
        meta: Extra metadata stored in the result.
        batch_offset: Global index of the first batch, for a shard of a larger evaluation
            (:mod:`robustlab.core.eval.shard`): attack seeds derive from
            ``(seed, batch_offset + b, attack)``, as in the whole run.
        early_stop: Build the suite's attacks with ``early_stop=True`` (those that take it and
            do not set it themselves): fooled examples stop at their fooling iterate and leave
            the batch. None (default): on in worst-case mode, off in independent mode.

    Returns:
        :class:`EvalResult` with accuracies in percent.

    Raises:
        ValueError: bad ``batch_size``/``n``, data shapes or values outside [0, 1].
        ConfigError: a state file that belongs to another evaluation.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if not isinstance(batch_offset, int) or batch_offset < 0:
        raise ValueError(f"batch_offset must be an int >= 0, got {batch_offset!r}")
    start = time.perf_counter()
    spec = resolve_suite(suite, eps, norm)
    stops = spec.early_stop_plan(early_stop)
    x, y, dataset = _resolve_data(data, n, dataset)
    dev = get_device(device)
    cfg = checks if isinstance(checks, SanityConfig) else (SanityConfig() if checks else None)
    if cfg is not None and cfg.iterative is None and any(stops):
        cfg = replace(
            cfg, iterative=CHECK_PGD_EARLY_STOP
        )  # the checks' PGD-10 under the same protocol
    was_training = model.training
    model.to(dev).eval()
    cuda = [dev] if dev.type == "cuda" else []
    # the caller's global RNG state is left as it was (training loops evaluate mid-run)
    with torch.random.fork_rng(devices=cuda), _restore_mode(model, was_training):
        labels = ["clean", *(a.label for a in spec.attacks)]
        chash = _fingerprint(model, x, y, spec, batch_size, seed, any(stops))
        state = EvalState.open(state_path, chash, len(y), labels)
        if state.next_batch:
            log.info("resuming evaluation from batch %d (%s)", state.next_batch, state_path)
        run = (model, x, y, spec, state, batch_size, dev, seed, state_path, progress)
        _run_batches(*run, batch_offset, stops=stops)
        flags: dict[str, dict[str, Any]] = {}
        sweep: list[dict[str, float]] | None = None
        if cfg is not None:
            flags, sweep = run_sanity(model, x, y, spec, state, cfg, dev, seed, batch_size)
        return _build_result(
            model,
            spec,
            state,
            flags,
            sweep,
            dataset=dataset,
            architecture=architecture,
            seed=seed,
            batch_size=batch_size,
            device=dev,
            meta=meta or {},
            wall=time.perf_counter() - start,
            early_stop=any(stops),
        )


@contextmanager
def _restore_mode(model: nn.Module, training: bool) -> Iterator[None]:
    try:
        yield
    finally:
        model.train(training)


def _resolve_data(
    data: str | tuple[Tensor, Tensor], n: int | None, dataset: str | None
) -> tuple[Tensor, Tensor, str | None]:
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be None or an int >= 1, got {n!r}")
    if isinstance(data, str):
        from robustlab.core.data import load

        loaded = load(data, "test", n=n)
        x, y, dataset = loaded.x, loaded.y, data
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise ValueError("data must be a dataset name or an (x, y) tensor pair") from None
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError("data must be a dataset name or an (x, y) pair of torch tensors")
    x, y = x[:n], y[:n]
    if x.dim() < 2 or y.dim() != 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"data must be x (N, C, H, W) and y (N,) with N >= 1; got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    x = x.float()
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("inputs must be finite and in [0, 1]; put normalisation inside the model")
    return x, y.long(), dataset


def _fingerprint(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    suite: Suite,
    batch_size: int,
    seed: int,
    early_stop: bool = False,
) -> str:
    """Hash of everything a resumed state must agree on (early stop only when on, so that the
    hashes of evaluations without it are those of earlier versions)."""
    with torch.no_grad():
        params = [
            round(float(p.double().sum()), 6)
            for p in model.state_dict().values()
            if torch.is_tensor(p) and p.is_floating_point()
        ]
    stride = max(1, x.numel() // 4096)
    sample = x.flatten()[::stride].cpu().tolist()
    data = hashlib.sha256(y.cpu().numpy().tobytes() + str(sample).encode()).hexdigest()
    extra = {"early_stop": True} if early_stop else {}
    return config_hash(
        {
            **extra,
            "suite": suite.to_dict(),
            "batch_size": batch_size,
            "seed": seed,
            "n": len(y),
            "data": data,
            "shape": list(x.shape),
            "params": params,
            "model": type(model).__name__,
        }
    )


def _progress(enabled: bool, total: int, done: int) -> Any:
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    bar.add_task("evaluating", total=total, completed=done)
    return bar


def _run_batches(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    suite: Suite,
    state: EvalState,
    batch_size: int,
    dev: torch.device,
    seed: int,
    state_path: Any,
    progress: bool,
    batch_offset: int = 0,
    *,
    stops: Sequence[bool] = (),
) -> None:
    n_batches = -(-len(y) // batch_size)
    with _progress(progress, n_batches, state.next_batch) as bar:
        for b in range(state.next_batch, n_batches):
            lo = b * batch_size
            _run_batch(
                model,
                x[lo : lo + batch_size].to(dev),
                y[lo : lo + batch_size].to(dev),
                lo,
                batch_offset + b,
                suite,
                state,
                seed,
                stops,
            )
            state.next_batch = b + 1
            if state_path is not None:
                state.save(state_path)
            if bar is not None:
                bar.advance(bar.task_ids[0])


def _timed_forward(model: nn.Module, x: Tensor, state: EvalState) -> Tensor:
    with torch.no_grad():
        logits = model(x).float()
    state.nonfinite += int((~torch.isfinite(logits)).any(1).sum())
    return logits


def _run_batch(
    model: nn.Module,
    xb: Tensor,
    yb: Tensor,
    lo: int,
    b: int,
    suite: Suite,
    state: EvalState,
    seed: int,
    stops: Sequence[bool] = (),
) -> None:
    t = time.perf_counter()
    clean_logits = _timed_forward(model, xb, state)
    correct = clean_logits.argmax(1) == yb
    state.times["clean"] += time.perf_counter() - t
    state.set("clean", lo, correct)
    alive = correct.clone()
    for i, spec in enumerate(suite.attacks):
        t = time.perf_counter()
        idx = (alive if suite.worst_case else correct).nonzero().squeeze(1)
        robust = torch.zeros_like(correct)
        if idx.numel():
            s = derive_seed(seed, b, i)
            torch.manual_seed(s)
            stop = i < len(stops) and stops[i]
            attack = spec.build(seed=s, early_stop=True) if stop else spec.build(seed=s)
            xs, ys = xb[idx], yb[idx]
            if stop and isinstance(attack, Attack) and not attack.autocast:
                # the clean logits of this batch are known: the attack skips its own clean pass
                x_adv = attack(model, xs, ys, logits_clean=clean_logits[idx])
            else:
                x_adv = attack(model, xs, ys)
            eps = spec.eps if spec.eps is not None else getattr(attack, "eps", None)
            excess = threat_violation(xs, x_adv, eps, getattr(attack, "norm", spec.norm))
            state.violation[spec.label] = max(state.violation[spec.label], excess)
            if x_adv.shape == xs.shape:
                robust[idx] = _timed_forward(model, x_adv, state).argmax(1) == ys
        state.times[spec.label] += time.perf_counter() - t
        state.set(spec.label, lo, robust)
        alive = robust if suite.worst_case else alive & robust


def _build_result(
    model: nn.Module,
    suite: Suite,
    state: EvalState,
    flags: dict[str, dict[str, Any]],
    sweep: list[dict[str, float]] | None,
    *,
    dataset: str | None,
    architecture: str | None,
    seed: int,
    batch_size: int,
    device: torch.device,
    meta: dict[str, Any],
    wall: float,
    early_stop: bool = False,
) -> EvalResult:
    clean = state.done("clean")
    per_example: dict[str, list[bool]] = {"clean": clean.tolist()}
    worst = clean.clone()
    robust_acc: dict[str, float] = {}
    for spec in suite.attacks:
        f = state.done(spec.label)
        per_example[spec.label] = f.tolist()
        robust_acc[spec.label] = _pct(f)
        worst &= f
    per_example["worst_case"] = worst.tolist()
    dtype = next((str(p.dtype) for p in model.parameters()), "torch.float32")
    return EvalResult(
        suite=suite.name,
        attacks=[a.to_dict() for a in suite.attacks],
        worst_case=suite.worst_case,
        n=state.n,
        clean_acc=_pct(clean),
        robust_acc=robust_acc,
        worst_case_acc=_pct(worst),
        per_example=per_example,
        times={k: round(v, 4) for k, v in state.times.items()},
        flags=flags,
        eps=suite.eps,
        norm=suite.norm,
        seed=seed,
        batch_size=batch_size,
        device=str(device),
        dtype=dtype,
        dataset=dataset,
        architecture=architecture or getattr(model, "arch", None) or type(model).__name__,
        versions=environment_info(device),
        config_hash=state.config_hash,
        wall_time=round(wall, 4),
        eps_sweep=sweep,
        meta=meta,
        early_stop=early_stop,
    )


def _pct(flags: Tensor) -> float:
    """Percentage of True in a boolean tensor, computed from integer counts."""
    return 100.0 * int(flags.sum()) / max(flags.numel(), 1)
