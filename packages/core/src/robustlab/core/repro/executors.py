"""Run a reproduction's runs as submitit jobs (``robustlab reproduce --executor local|slurm``).

Each run still to compute becomes one job (train, evaluate, analyse: :func:`execute_run`), or,
when it declares ``RunSpec.eval_shards = S > 1``, ``S + 2`` jobs: training, one job per
evaluation shard (:mod:`robustlab.core.eval.shard`, each writing ``eval.shard-I-of-S.json``) and
a finishing job that merges the shards (bit-identical to one evaluation), runs AutoAttack and the
analyses and writes ``metrics.json``. A job is submitted once every job it depends on has
finished: a run's dependencies (``RunSpec.needs``) finish completely before its training starts.
Finished work is skipped on a rerun (finished runs by the runner; a finished training phase or
shard file by :func:`job_graph`). A failed job cancels the jobs still running and raises
:class:`JobError` naming its log; rerunning resumes.

Executors: ``local`` is submitit's ``LocalExecutor`` (subprocesses on this machine), ``slurm``
submitit's ``AutoExecutor`` on Slurm. Each job asks for its run's :class:`Resources`
(``cpus_per_task``, ``gpus_per_node``, ``mem_gb``, ``timeout_min``); ``options`` (e.g.
``slurm_partition``) are passed to ``update_parameters`` as given. submitit is optional:
``pip install submitit`` (the cluster extra of robustlab-core).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from robustlab.core.errors import ConfigError, RobustlabError
from robustlab.core.repro.execute import (
    execute_run,
    load_eval_data,
    shard_count,
    shard_file,
    train_phases,
)
from robustlab.core.repro.plan import resolve_need_refs, training_dir
from robustlab.core.repro.spec import DEFAULT_RESOURCES, Resources, RunSpec
from robustlab.core.repro.store import CONFIG, write_run_config
from robustlab.core.utils import get_logger

log = get_logger(__name__)

EXECUTORS = ("inline", "local", "slurm")
"""``inline``: every run in this process, one after another (the default); ``local`` and
``slurm``: one submitit job per run or shard."""
JOBS = "_jobs"
"""Folder of submitit's job files and logs under the profile directory."""

JobKind = Literal["run", "train", "shard", "finish"]


class JobError(RobustlabError):
    """A cluster job of a reproduction failed."""


@dataclass(frozen=True)
class Job:
    """One unit of work: a whole run, or a sharded run's training, one shard, or its finish.

    Attributes:
        key: Unique id, e.g. "run:e1", "train:e3", "shard:e3:1", "finish:e3".
        run: The run id.
        kind: "run" (train + evaluate + analyse), "train", "shard" or "finish".
        deps: Keys of the jobs that must finish first.
        shard: The shard index of a "shard" job.
    """

    key: str
    run: str
    kind: JobKind
    deps: tuple[str, ...] = ()
    shard: int | None = None

    @property
    def completes_run(self) -> bool:
        """Whether the run's ``metrics.json`` exists once this job is done."""
        return self.kind in ("run", "finish")


class Handle(Protocol):
    """What an executor returns for a submitted job (submitit's ``Job`` satisfies it)."""

    def done(self) -> bool: ...

    def result(self) -> Any: ...

    def cancel(self) -> Any: ...


def final_key(run: str, sharded: bool) -> str:
    """Key of the job whose end finishes run ``run``."""
    return f"finish:{run}" if sharded else f"run:{run}"


def job_graph(todo: Sequence[str], runs: Mapping[str, RunSpec], pdir: Path) -> list[Job]:
    """The jobs of the runs in ``todo`` (dependency order), skipping finished parts.

    A dependency not in ``todo`` is finished already and adds no edge. In a sharded run, a
    finished training phase (its run directory marked finished) and an existing shard file are
    not submitted again.
    """
    from robustlab.core.repro.store import run_dir
    from robustlab.core.train.runs import is_finished

    sharded = {rid: shard_count(runs[rid]) > 1 for rid in todo}
    jobs: list[Job] = []
    for rid in todo:
        spec, rdir = runs[rid], run_dir(pdir, rid)
        deps = tuple(final_key(d, sharded[d]) for d in spec.needs.values() if d in sharded)
        deps = tuple(dict.fromkeys(deps))
        if not sharded[rid]:
            jobs.append(Job(f"run:{rid}", rid, "run", deps))
            continue
        if not is_finished(training_dir(rdir, spec)):
            jobs.append(Job(f"train:{rid}", rid, "train", deps))
            deps = (f"train:{rid}",)
        count = shard_count(spec)
        shards = [
            Job(f"shard:{rid}:{i}", rid, "shard", deps, i)
            for i in range(count)
            if not (rdir / shard_file(i, count)).exists()
        ]
        jobs += shards
        jobs.append(Job(final_key(rid, True), rid, "finish", tuple(j.key for j in shards) or deps))
    return jobs


def run_graph(
    jobs: Sequence[Job],
    submit: Callable[[Job], Handle],
    on_done: Callable[[Job], None] | None = None,
    max_jobs: int | None = None,
    poll_s: float = 2.0,
    describe: Callable[[Job, Handle], str] | None = None,
) -> None:
    """Submit ``jobs`` as their dependencies finish and wait for all of them.

    Args:
        jobs: The job graph (every dependency key names a job of the graph).
        submit: Starts a job and returns its handle.
        on_done: Called in the driver when a job finished (e.g. to fill the run's cells); an
            exception from it stops the graph like a failed job.
        max_jobs: Most jobs in flight at once (None: no limit).
        poll_s: Seconds between polls of the jobs in flight.
        describe: Where a job's log is, for the error message of a failed job.

    Raises:
        JobError: a job failed (the other jobs in flight are cancelled first).
        ValueError: a dependency names no job of the graph.
    """
    keys = {j.key for j in jobs}
    for job in jobs:
        unknown = [d for d in job.deps if d not in keys]
        if unknown:
            raise ValueError(f"job {job.key} depends on {unknown}, which are not in the graph")
    pending = list(jobs)
    running: dict[str, tuple[Job, Handle]] = {}
    done: set[str] = set()
    try:
        while pending or running:
            ready = [j for j in pending if all(d in done for d in j.deps)]
            for job in ready:
                if max_jobs is not None and len(running) >= max_jobs:
                    break
                log.info("submitting %s", job.key)
                running[job.key] = (job, submit(job))
                pending.remove(job)
            finished = [k for k, (_, h) in running.items() if h.done()]
            for key in finished:
                job, handle = running.pop(key)
                try:
                    handle.result()
                except Exception as exc:
                    where = f" (log: {describe(job, handle)})" if describe else ""
                    raise JobError(
                        f"job {job.key} of run {job.run} failed{where}: {exc}; fix the cause "
                        "and rerun: finished runs are skipped, interrupted ones resume"
                    ) from exc
                done.add(key)
                if on_done is not None:
                    on_done(job)
            if not finished and running:
                time.sleep(poll_s)
    finally:
        for job, handle in running.values():
            log.warning("cancelling job %s", job.key)
            handle.cancel()


def run_job(
    job: Job,
    spec: RunSpec,
    rdir: str,
    device: str | None,
    extra: dict[str, Any],
    needs: dict[str, str],
    chash: str,
    threads: int | None = None,
) -> str:
    """The body of one cluster job (runs in the job's process). Returns the job's key."""
    import torch

    from robustlab.core.utils import get_device
    from robustlab.core.utils.logging import configure_logging

    configure_logging("INFO")
    if threads:
        torch.set_num_threads(threads)
    dev, path = get_device(device), Path(rdir)
    if job.kind in ("run", "finish"):
        execute_run(spec, path, dev, progress=False, extra=extra, needs=needs, chash=chash)
    elif job.kind == "train":
        if not (path / CONFIG).exists():
            write_run_config(path, spec, extra, chash)
        train_phases(spec, path, dev, progress=False, needs=needs)
    else:
        _run_shard(job, spec, path, dev, needs)
    return job.key


def _run_shard(job: Job, spec: RunSpec, rdir: Path, dev: Any, needs: dict[str, str]) -> None:
    from robustlab.core.eval.shard import evaluate_shard
    from robustlab.core.train.runs import load_run

    assert job.shard is not None and spec.suite is not None
    count = shard_count(spec)
    model = load_run(training_dir(rdir, spec), dev).model
    x, y = load_eval_data(spec)
    result = evaluate_shard(
        model,
        (x, y),
        resolve_need_refs(spec.suite, needs, spec.id),
        (job.shard, count),
        batch_size=spec.eval_batch_size,
        seed=spec.eval_seed,
        device=dev,
        state_path=rdir / f"eval_state.shard-{job.shard}-of-{count}.json",
        progress=False,
        dataset=spec.dataset,
    )
    result.save(rdir / shard_file(job.shard, count))


def require_submitit(executor: str) -> Any:
    """Import submitit, or raise one error naming the fix."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            f"--executor {executor} needs submitit, which is not installed; install it with "
            "pip install submitit (or './packages/core[cluster]' from the source tree), or use "
            "--executor inline"
        ) from None
    return submitit


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    """ "key=value" strings -> submitit parameters (ints, floats, true/false parsed).

    Raises:
        ConfigError: an item without "=".
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--executor-opt {pair!r} is not key=value (e.g. slurm_qos=high, timeout_min=600)"
            )
        value: Any = text
        if text.lower() in ("true", "false"):
            value = text.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(text)
                    break
                except ValueError:
                    pass
        out[key.strip()] = value
    return out


class SubmititExecutor:
    """Submits :func:`run_job` through submitit's ``AutoExecutor`` (cluster "local" or "slurm")."""

    def __init__(self, kind: str, folder: Path, options: Mapping[str, Any] | None = None) -> None:
        if kind not in ("local", "slurm"):
            raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
        submitit = require_submitit(kind)
        self.kind, self.options = kind, dict(options or {})
        try:
            self.executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=kind)
        except RuntimeError as exc:  # e.g. no srun: not on a Slurm cluster
            raise ConfigError(
                f"--executor {kind}: submitit cannot submit here ({exc}); run on a Slurm login "
                "node, or use --executor local or inline"
            ) from None

    def parameters(self, job: Job, res: Resources) -> dict[str, Any]:
        """submitit parameters of one job: its resources, then ``options`` (which win).

        Memory is rounded up to whole GiB (Slurm's ``--mem`` takes integers).
        """
        params: dict[str, Any] = {
            "name": f"robustlab-{job.key.replace(':', '-')}",
            "timeout_min": res.time_min,
            "cpus_per_task": res.cpus,
            "gpus_per_node": res.gpus,
            "mem_gb": math.ceil(res.mem_gb),
        }
        return {**params, **self.options}

    def submit(self, job: Job, res: Resources, *args: Any) -> Handle:
        """Submit ``run_job(job, *args)`` with the job's resources."""
        self.executor.update_parameters(**self.parameters(job, res))
        handle: Handle = self.executor.submit(run_job, job, *args)
        return handle


def submit_runs(
    executor: str,
    todo: Sequence[str],
    runs: Mapping[str, RunSpec],
    pdir: Path,
    profile: str,
    *,
    device: str | None,
    extra: dict[str, Any],
    hashes: Mapping[str, str],
    needs: Callable[[str], dict[str, str]],
    on_run_done: Callable[[str], None],
    options: Mapping[str, Any] | None = None,
    max_jobs: int | None = None,
    poll_s: float = 2.0,
) -> None:
    """Compute the runs ``todo`` as submitit jobs; ``on_run_done(run_id)`` after each run.

    Args:
        executor: "local" or "slurm".
        todo: Run ids still to compute, dependencies first.
        runs: Every run of the profile.
        pdir: The profile directory (job logs go to ``<pdir>/_jobs/``).
        profile: Selects :data:`DEFAULT_RESOURCES` for runs that declare no resources.
        device: Device name for the jobs (None: the best each job's machine has).
        extra, hashes, needs: As the runner gives :func:`execute_run` (needs: run id -> role
            -> dependency's training directory, resolved once the dependency has finished).
        options: Extra submitit parameters (e.g. ``{"slurm_partition": "gpu"}``).
        max_jobs: Most jobs in flight at once (None: no limit).
    """
    from robustlab.core.repro.store import run_dir

    ex = SubmititExecutor(executor, pdir / JOBS, options)
    default = DEFAULT_RESOURCES.get(profile, Resources())

    def submit(job: Job) -> Handle:
        spec = runs[job.run]
        res = spec.resources or default
        args = (str(run_dir(pdir, job.run)), device, extra, needs(job.run), hashes[job.run])
        return ex.submit(job, res, spec, *args, res.cpus)

    def done(job: Job) -> None:
        if job.completes_run:
            on_run_done(job.run)

    def describe(job: Job, handle: Handle) -> str:
        paths = getattr(handle, "paths", None)
        return str(getattr(paths, "stderr", pdir / JOBS))

    run_graph(job_graph(todo, runs, pdir), submit, done, max_jobs, poll_s, describe)
