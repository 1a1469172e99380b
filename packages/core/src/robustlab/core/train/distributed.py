"""Data-parallel training under ``torchrun``: process group, gradient averaging, rank-0 writes.

``torchrun --nproc_per_node=N -m robustlab train ...`` starts N processes with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` set; :func:`setup` joins them into a process group (``gloo`` on CPU,
``nccl`` on CUDA with rank -> ``cuda:LOCAL_RANK``) and the engine then, per optimiser step:

* shards the batch: every rank draws the same epoch order and augmentation and takes its
  :func:`~robustlab.core.data.batches.shard_bounds` slice of each global batch of ``batch_size``
  examples, so the global batch equals the single-process one;
* averages gradients after backward, before clipping and the step: rank r, holding ``n_r`` of the
  ``B`` examples, contributes ``(n_r / B) * grad_r`` to an all-reduce sum, which for a loss that
  is a batch mean is exactly the gradient of the single-process global batch (uneven slices
  included). The same runs as a step pre-hook on every optimiser the method holds (AWP's proxy);
  modules trained by the run's optimiser (LBGAT/D2R's guide) are averaged with the model;
* at each epoch end averages floating-point buffers (BatchNorm running statistics, computed per
  rank from its slice during the epoch) and broadcasts rank 0's parameters, so every rank
  validates, checkpoints and resumes from the same weights; frozen modules (LTD's teacher) are
  loaded identically by every rank and never touched.

Only rank 0 writes (run directory, checkpoints, logs, metrics) and evaluates; the other ranks
wait for it through :func:`on_main`, which also re-raises rank 0's errors on every rank. The
global RNG (attack starts, dropout) of rank r is reseeded at each epoch start from (seed, epoch,
r) and the method's state is checkpointed per rank, so a killed run resumes exactly when
restarted with the same number of processes. Object messages use a ``gloo`` group with a long
timeout (``ROBUSTLAB_DIST_TIMEOUT_S``, default one day): other ranks wait there while rank 0
evaluates. ``reproduce`` runs on rank 0 only (:func:`lead`); the other ranks serve the
trainings it starts (:func:`dispatch`).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import pickle
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from robustlab.core.errors import ConfigError, RobustlabError
from robustlab.core.utils import get_device, get_logger

log = get_logger(__name__)
T = TypeVar("T")
P = ParamSpec("P")
_CONTROL: Any = None  # gloo group for object messages (long timeout)
_DISPATCHING = False  # rank 0 inside lead(): train() calls are announced to the other ranks


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the data-parallel job (``world_size == 1``: a plain run)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> DistInfo:
    """The job layout torchrun put in the environment (a single process when unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def info() -> DistInfo:
    """The current process group's layout (a single process before :func:`setup`)."""
    if not dist.is_available() or not dist.is_initialized():
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str | torch.device | None = None) -> tuple[DistInfo, torch.device]:
    """Join torchrun's process group (once) and resolve this rank's device.

    Without torchrun (``WORLD_SIZE`` unset or 1) this is ``get_device(device)``. Under torchrun a
    CUDA device becomes ``cuda:LOCAL_RANK`` with the ``nccl`` backend; CPU uses ``gloo``.

    Raises:
        ConfigError: a device other than CPU/CUDA, or a device type different from the one the
            process group was created for.
    """
    global _CONTROL
    env = env_world()
    dev = get_device(device)
    if not env.enabled:
        return env, dev
    if dev.type == "cuda":
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise ConfigError(f"data-parallel training runs on cpu or cuda, not {dev}; use --device")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        wait = timedelta(seconds=float(os.environ.get("ROBUSTLAB_DIST_TIMEOUT_S", "86400")))
        dist.init_process_group(backend, timeout=wait if backend == "gloo" else None)
        _CONTROL = None if backend == "gloo" else dist.new_group(backend="gloo", timeout=wait)
        atexit.register(_shutdown)
        if env.rank != 0:  # one log for the job: rank 0's
            logging.getLogger("robustlab").setLevel(logging.WARNING)
        log.info("data-parallel: %d processes, backend %s", env.world_size, backend)
    elif dist.get_backend() != backend:
        raise ConfigError(
            f"the process group uses {dist.get_backend()} but this run is on {dev}; "
            "use the same --device for every run of one torchrun job"
        )
    return info(), dev


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------- object messages
def broadcast_object(obj: Any = None) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; over the gloo control group)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_CONTROL)
    return box[0]


def _portable(exc: BaseException) -> BaseException:
    try:
        out = pickle.loads(pickle.dumps(exc))
        return out if isinstance(out, BaseException) else exc
    except Exception:  # an unpicklable error crosses as its message
        return RobustlabError(f"{type(exc).__name__}: {exc}")


def on_main(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on rank 0 only and return its (picklable) result on every rank.

    The other ranks wait; an exception on rank 0 is raised on every rank (so no rank waits
    forever on a collective the failed rank never reaches). A plain call without a group.
    """
    if not info().enabled:
        return fn(*args, **kwargs)
    if info().is_main:
        try:
            result: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except Exception as exc:
            broadcast_object((False, _portable(exc)))
            raise
        broadcast_object(result)
        return result[1]  # type: ignore[no-any-return]
    ok, value = broadcast_object()
    if not ok:
        value._robustlab_rank0 = True  # mirrored from rank 0 (see _serve)
        raise value
    return value  # type: ignore[no-any-return]


def lead(fn: Callable[P, T]) -> Callable[P, T]:
    """Decorate a driver (``reproduce``) that only rank 0 runs; the others train with it.

    Rank 0 runs ``fn``; each ``train()`` it calls is first announced (:func:`dispatch`) so the
    other ranks join that training; at the end every rank returns rank 0's result (or raises
    its error). Without a process group, a plain call.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        global _DISPATCHING
        if not info().enabled and env_world().enabled:
            dev = kwargs.get("device")
            setup(dev if isinstance(dev, (str, torch.device)) else None)
        if not info().enabled:
            return fn(*args, **kwargs)
        if not info().is_main:
            return _serve()
        _DISPATCHING = True
        try:
            result: T = fn(*args, **kwargs)
        except Exception as exc:
            broadcast_object(("stop", False, _portable(exc)))
            raise
        finally:
            _DISPATCHING = False
        try:
            pickle.dumps(result)
        except Exception:  # the other ranks then return None rather than wait forever
            log.warning("%s returned an unpicklable result; other ranks get None", fn.__name__)
            broadcast_object(("stop", True, None))
            return result
        broadcast_object(("stop", True, result))
        return result

    return wrapper


def dispatch(**train_kwargs: Any) -> None:
    """On rank 0 inside :func:`lead`: make the other ranks call ``train(**train_kwargs)`` too."""
    if _DISPATCHING and info().is_main:
        broadcast_object(("train", train_kwargs))


def _serve() -> Any:
    from robustlab.core.train.engine import train

    while True:
        msg = broadcast_object()
        if msg[0] == "stop":
            _, ok, value = msg
            if not ok:
                raise value
            return value
        try:
            train(**msg[1])
        except Exception as exc:
            if not getattr(exc, "_robustlab_rank0", False):
                raise  # this rank's own failure: end the process (torchrun stops the job)
            # rank 0 raised the same error and decides what follows
            log.debug("rank %d: training failed as on rank 0: %s", info().rank, exc)


# ---------------------------------------------------------------------- tensors
def _coalesced(tensors: list[torch.Tensor], op: Callable[[torch.Tensor], Any]) -> None:
    """Apply a collective ``op`` to the tensors flattened per dtype, then copy the results back
    (one call per dtype; works for channels-last and other non-contiguous layouts)."""
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        op(flat)
        offset = 0
        for t in group:
            with torch.no_grad():
                t.copy_(flat[offset : offset + t.numel()].view(t.shape))
            offset += t.numel()


def reduce_gradients(params: Iterable[torch.Tensor], weight: float) -> None:
    """grad <- sum over ranks of ``weight_r * grad_r`` (``weight_r`` = n_r / B, see module doc)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or not info().enabled:
        return

    def op(flat: torch.Tensor) -> None:
        flat.mul_(weight)
        dist.all_reduce(flat)

    _coalesced(grads, op)


def sync_modules(modules: Iterable[nn.Module]) -> None:
    """Average floating-point buffers over ranks; give every rank rank 0's parameters and
    integer buffers (``num_batches_tracked``)."""
    if not info().enabled:
        return
    world = info().world_size
    params: list[torch.Tensor] = []
    mean: list[torch.Tensor] = []
    for mod in modules:
        params += [p.data for p in mod.parameters()]
        for b in mod.buffers():
            (mean if b.is_floating_point() else params).append(b)

    def average(flat: torch.Tensor) -> None:
        dist.all_reduce(flat)
        flat.div_(world)

    _coalesced(mean, average)
    _coalesced(params, lambda flat: dist.broadcast(flat, src=0))


def method_optimizers(method: Any) -> list[torch.optim.Optimizer]:
    """The optimisers a method holds besides the run's (AWP's proxy SGD), found among its and its
    objectives' attributes."""
    owners = [method, *(getattr(method, "_objectives", {}) or {}).values()]
    seen: dict[int, torch.optim.Optimizer] = {}
    for owner in owners:
        for value in getattr(owner, "__dict__", {}).values():
            if isinstance(value, torch.optim.Optimizer):
                seen[id(value)] = value
    return list(seen.values())


def reseed(seed: int, epoch: int, rank: int) -> None:
    """Seed torch (all devices), python and numpy from (seed, epoch, rank) for one epoch."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(rank), 0xDD9])
    s = int(state.generate_state(1, np.uint32)[0])
    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s)


def _cpu_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def gather_method_state(state: dict[str, Any]) -> dict[str, Any]:
    """Rank 0: its own method state plus every other rank's under ``ddp.rank<r>/<key>``."""
    if not info().enabled:
        return state
    parts: list[Any] | None = [None] * info().world_size if info().is_main else None
    dist.gather_object(_cpu_state(state), parts, dst=0, group=_CONTROL)
    if parts is None:
        return {}
    out = dict(state)
    for r, part in enumerate(parts[1:], start=1):
        out.update({f"ddp.rank{r}/{k}": v for k, v in part.items()})
    return out


def own_method_state(state: dict[str, Any], rank: int) -> dict[str, Any]:
    """Inverse of :func:`gather_method_state` for ``rank`` (rank 0's state when ``rank``'s is
    missing, i.e. a run resumed with more processes than it was saved with)."""
    mine = {k: v for k, v in state.items() if not k.startswith("ddp.rank")}
    prefix = f"ddp.rank{rank}/"
    if rank > 0 and any(k.startswith(prefix) for k in state):
        mine = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return mine


class Replicas:
    """The engine's data-parallel hooks for one run (all no-ops in a single process).

    Args:
        params: Everything the run's optimiser holds (model + trainable method modules).
        modules: The model and the method's extra modules (synchronised at epoch ends).
        method: The training method (its own optimisers are averaged through step pre-hooks).
    """

    def __init__(
        self, params: Sequence[torch.Tensor], modules: list[nn.Module], method: Any
    ) -> None:
        self.dist = info()
        self.params, self.modules = params, modules
        self.weight = 1.0  # n_r / B of the current step
        self._hooks: list[Any] = []
        if self.dist.enabled:
            for opt in method_optimizers(method):
                self._hooks.append(opt.register_step_pre_hook(self._pre_step))

    def _pre_step(self, opt: torch.optim.Optimizer, *_: Any) -> None:
        reduce_gradients((p for g in opt.param_groups for p in g["params"]), self.weight)

    def start(self) -> None:
        """Every rank starts from rank 0's weights (after a resume too)."""
        sync_modules(self.modules)

    def step_weight(self, local: int, total: int) -> float:
        """Set and return this rank's share ``local / total`` of the current global batch."""
        self.weight = local / total if self.dist.enabled else 1.0
        return self.weight

    def after_backward(self) -> None:
        reduce_gradients(self.params, self.weight)

    def epoch_totals(
        self, loss: torch.Tensor, correct: torch.Tensor, seen: int, extra: dict[str, float]
    ) -> tuple[float, int, int, dict[str, float]]:
        """Sum the epoch's weighted loss, correct count, examples and metrics over ranks."""
        if not self.dist.enabled:
            return float(loss), int(correct), seen, extra
        parts: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(parts, (float(loss), int(correct), seen, extra), group=_CONTROL)
        total: dict[str, float] = {}
        for part in parts:
            for k, v in part[3].items():
                total[k] = total.get(k, 0.0) + v
        return (
            sum(p[0] for p in parts),
            sum(p[1] for p in parts),
            sum(p[2] for p in parts),
            total,
        )

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []
