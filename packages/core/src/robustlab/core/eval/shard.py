"""Sharded evaluation: evaluate a contiguous slice of a test set, merge the slices afterwards.

A shard ``I/N`` (``0 <= I < N``) of an evaluation with ``B = ceil(n / batch_size)`` batches takes
the batches ``floor(I * B / N) .. floor((I + 1) * B / N) - 1``: shards split on batch boundaries
and keep the global batch index, so every attack on every batch is seeded exactly as in the
unsharded run (``derive_seed(seed, batch, attack)`` in :mod:`robustlab.core.eval.harness`).
:func:`merge_shards` concatenates the shards' per-example outcomes; the merged per-example flags
and accuracies equal those of one :func:`~robustlab.core.eval.evaluate` over all ``n`` examples
(worst-case and independent mode alike).

Each shard result records, under ``meta["shard"]``, its slice and a fingerprint of the whole
evaluation (suite, model parameters, data, seed, batch size, n); merging refuses shards whose
fingerprints differ, duplicate or overlapping shards and missing ones.

```python
r0 = evaluate_shard(model, "cifar10", "autoattack", shard="0/2", n=10000)  # one job
r1 = evaluate_shard(model, "cifar10", "autoattack", shard="1/2", n=10000)  # another job
result = merge_shards([r0, r1])
```

Sanity checks run per shard on the shard's own examples; the merged flag of a check fails when
any shard failed it (the shards' flags are kept under ``flags[name]["shards"]``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.errors import ConfigError
from robustlab.core.eval.harness import evaluate
from robustlab.core.eval.result import EvalResult
from robustlab.core.eval.suites import AttackSpec, Suite, resolve_suite
from robustlab.core.utils import config_hash

__all__ = ["ShardSpec", "evaluate_shard", "load_shards", "merge_shards", "shard_bounds"]

SHARD_KEY = "shard"


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count`` (0-based: ``0 <= index < count``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and isinstance(self.index, int)) or self.count < 1:
            raise ConfigError(f"shard count must be an int >= 1, got {self.count!r}")
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"shard {self.index}/{self.count} is out of range: the index is 0-based, "
                f"0 <= I < N (here 0..{self.count - 1})"
            )

    @classmethod
    def parse(cls, text: str | ShardSpec | tuple[int, int]) -> ShardSpec:
        """ "2/4" -> ShardSpec(2, 4); a (index, count) pair or a ShardSpec as given.

        Raises:
            ConfigError: not of the form I/N with integers, or I outside 0..N-1.
        """
        if isinstance(text, ShardSpec):
            return text
        if isinstance(text, tuple):
            return cls(*text)
        parts = str(text).split("/")
        try:
            index, count = (int(p) for p in parts)
        except ValueError:
            raise ConfigError(
                f"--shard {text!r} is not I/N (e.g. 0/4: the first of four shards)"
            ) from None
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_bounds(n: int, batch_size: int, shard: ShardSpec) -> tuple[int, int, int]:
    """The slice of shard ``shard`` of ``n`` examples in batches of ``batch_size``.

    Returns:
        (global index of its first batch, first example, one past its last example).

    Raises:
        ConfigError: more shards than batches (some shard would be empty).
    """
    n_batches = -(-n // batch_size)
    if shard.count > n_batches:
        raise ConfigError(
            f"{shard.count} shards of {n} examples in batches of {batch_size} ({n_batches} "
            f"batches): a shard holds whole batches, so use at most {n_batches} shards or a "
            "smaller batch size"
        )
    first = shard.index * n_batches // shard.count
    last = (shard.index + 1) * n_batches // shard.count
    return first, first * batch_size, min(last * batch_size, n)


def _tensor_digest(tensors: Sequence[Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().to("cpu").contiguous()
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def fingerprint(
    model: nn.Module, x: Tensor, y: Tensor, suite: Suite, batch_size: int, seed: int
) -> dict[str, Any]:
    """What every shard of one evaluation shares: suite, model weights, data, seed, batch size.

    ``x`` (N, C, H, W) and ``y`` (N,) are the whole evaluation's data (all shards). Weights and
    data are hashed exactly (every byte), so two shards agree only on identical models and data.
    """
    state = [v for v in model.state_dict().values() if torch.is_tensor(v)]
    return {
        "suite": config_hash(suite.to_dict()),
        "mode": "worst_case" if suite.worst_case else "independent",
        "model": f"{type(model).__name__}:{_tensor_digest(state)}",
        "data": _tensor_digest([x.float(), y.long()]),
        "n": len(y),
        "seed": seed,
        "batch_size": batch_size,
    }


def _load_data(
    data: str | tuple[Tensor, Tensor], n: int | None, root: str | None
) -> tuple[Tensor, Tensor, str | None]:
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be None or an int >= 1, got {n!r}")
    if isinstance(data, str):
        from robustlab.core.data import load

        loaded = load(data, "test", n=n, root=root)
        return loaded.x[:n], loaded.y[:n], data
    x, y = data
    return x[:n], y[:n], None


def evaluate_shard(
    model: nn.Module,
    data: str | tuple[Tensor, Tensor],
    suite: str | Suite | Sequence[AttackSpec | str],
    shard: str | ShardSpec | tuple[int, int],
    n: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    *,
    eps: float | str | None = None,
    norm: str | None = None,
    data_root: str | None = None,
    dataset: str | None = None,
    meta: dict[str, Any] | None = None,
    **kwargs: Any,
) -> EvalResult:
    """Evaluate shard ``I/N`` of an evaluation; merge the shards with :func:`merge_shards`.

    Args:
        model: Classifier mapping (B, C, H, W) inputs in [0, 1] to (B, K) logits.
        data: A dataset name (its test split) or ``(x (N, C, H, W) in [0, 1], y (N,))``: the
            whole evaluation's data, not the shard's.
        suite: As for :func:`~robustlab.core.eval.evaluate`.
        shard: "I/N", ``(I, N)`` or a :class:`ShardSpec`; 0 <= I < N.
        n: The whole evaluation's size: its first ``n`` examples (None: all).
        batch_size: The whole evaluation's batch size (the shards split on its batches).
        seed: The whole evaluation's base seed.
        eps, norm: Budget and norm for a suite given by name or string.
        data_root: Where to find a dataset given by name (None: the default locations).
        dataset: Dataset name to record when ``data`` is a tensor pair.
        meta: Extra metadata stored in the result (``meta["shard"]`` is set here).
        **kwargs: Passed on to :func:`~robustlab.core.eval.evaluate` (device, state_path,
            progress, checks, architecture).

    Returns:
        An :class:`EvalResult` over the shard's examples with ``meta["shard"]`` = {index,
        count, first_batch, start, stop, fingerprint}.

    Raises:
        ConfigError: bad shard, or more shards than batches.
    """
    spec = ShardSpec.parse(shard)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    resolved = resolve_suite(suite, eps, norm)
    x, y, name = _load_data(data, n, data_root)
    first, start, stop = shard_bounds(len(y), batch_size, spec)
    info = {
        "index": spec.index,
        "count": spec.count,
        "first_batch": first,
        "start": start,
        "stop": stop,
        "fingerprint": fingerprint(model, x, y, resolved, batch_size, seed),
    }
    return evaluate(
        model,
        (x[start:stop], y[start:stop]),
        resolved,
        batch_size=batch_size,
        seed=seed,
        dataset=dataset or name,
        meta={**(meta or {}), SHARD_KEY: info},
        batch_offset=first,
        **kwargs,
    )


def load_shards(paths: Sequence[str | os.PathLike[str]]) -> EvalResult:
    """Read shard results written by ``robustlab eval --shard`` and merge them.

    Raises:
        ConfigError: a file is missing or unreadable, or :func:`merge_shards` refuses the set.
    """
    results = []
    for path in paths:
        try:
            results.append(EvalResult.load(path))
        except FileNotFoundError:
            raise ConfigError(f"shard result {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not an evaluation result ({exc})") from None
    return merge_shards(results, [str(p) for p in paths])


def _shard_info(result: EvalResult, name: str) -> dict[str, Any]:
    info = (result.meta or {}).get(SHARD_KEY)
    if not isinstance(info, dict) or not {"start", "stop", "fingerprint"} <= set(info):
        raise ConfigError(
            f"{name} is not a shard result (no meta.shard); merge takes the files written by "
            "`robustlab eval ... --shard I/N`"
        )
    if len(result.per_example.get("clean", [])) != info["stop"] - info["start"]:
        raise ConfigError(
            f"{name}: {len(result.per_example.get('clean', []))} outcomes for examples "
            f"{info['start']}..{info['stop'] - 1}; the file is damaged, re-run that shard"
        )
    return info


def _check_tiling(items: list[tuple[dict[str, Any], str]], n: int) -> None:
    """Raise unless the shards' [start, stop) slices cover 0..n-1 exactly once."""
    items = sorted(items, key=lambda it: (it[0]["start"], it[0]["stop"]))
    counts = {it[0].get("count") for it in items}
    pos, prev, prev_span = 0, "", (-1, -1)
    gaps: list[tuple[int, int]] = []
    for info, name in items:
        span = (info["start"], info["stop"])
        if span == prev_span:
            raise ConfigError(
                f"shard {info.get('index')}/{info.get('count')} is given twice ({prev} and "
                f"{name}); pass each shard once"
            )
        if info["start"] < pos:
            raise ConfigError(
                f"shards overlap: {name} starts at example {info['start']} but {prev} already "
                f"covers examples up to {pos - 1}; pass each example's shard once"
            )
        if info["start"] > pos:
            gaps.append((pos, info["start"]))
        pos, prev, prev_span = max(pos, info["stop"]), name, span
    if pos < n:
        gaps.append((pos, n))
    if gaps:
        ranges = ", ".join(f"{a}..{b - 1}" for a, b in gaps)
        hint = ""
        if len(counts) == 1 and None not in counts:
            count = int(next(iter(counts)))  # type: ignore[arg-type]
            have = {it[0].get("index") for it in items}
            hint = " (missing " + ", ".join(
                f"--shard {i}/{count}" for i in range(count) if i not in have
            )
            hint += ")"
        raise ConfigError(
            f"missing shards: examples {ranges} of {n} are in no given shard{hint}; run them "
            "and merge all shards together"
        )


def _merge_flags(results: list[EvalResult], labels: list[str]) -> dict[str, dict[str, Any]]:
    names = list(dict.fromkeys(k for r in results for k in r.flags))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        per = [(lab, r.flags[name]) for lab, r in zip(labels, results) if name in r.flags]
        passed = [f.get("passed") for _, f in per]
        if any(p is False for p in passed):
            verdict: bool | None = False
            detail = "; ".join(f"shard {lab}: {f.get('detail', '')}" for lab, f in per)
        elif any(p is True for p in passed):
            verdict, detail = True, f"{per[0][1].get('detail', '')} (all {len(per)} shards)"
        else:
            verdict, detail = None, str(per[0][1].get("detail", ""))
        out[name] = {"passed": verdict, "detail": detail, "shards": dict(per)}
    return out


def merge_shards(results: Sequence[EvalResult], names: Sequence[str] | None = None) -> EvalResult:
    """Combine shard results into the result of the whole evaluation.

    Per-example outcomes are concatenated in example order; accuracies are recomputed from them
    (percent in [0, 100] over all ``n`` examples), so they equal an unsharded evaluation's.
    Timings and wall time are summed over shards; sanity-check flags fail where any shard's did.

    Args:
        results: Every shard of one evaluation, in any order.
        names: What to call each shard in errors (file names); default "shard #k".

    Raises:
        ConfigError: no shards; a result without shard information; shards of different
            evaluations (suite, model, data, seed, batch size or n differ, naming which);
            a shard given twice, overlapping shards, or missing shards (naming them).
    """
    if not results:
        raise ConfigError("no shard results to merge; pass every shard's result file")
    names = list(names) if names is not None else [f"shard #{k}" for k in range(len(results))]
    infos = [_shard_info(r, name) for r, name in zip(results, names)]
    ref = infos[0]["fingerprint"]
    for info, name in zip(infos[1:], names[1:]):
        for key in sorted(set(ref) | set(info["fingerprint"])):
            if ref.get(key) != info["fingerprint"].get(key):
                raise ConfigError(
                    f"{names[0]} and {name} are shards of different evaluations: their {key} "
                    f"differs ({ref.get(key)!r} vs {info['fingerprint'].get(key)!r}); merge the "
                    "shards of one evaluation (same model, data, suite, seed, batch size, n)"
                )
    stops = {bool(r.early_stop) for r in results}
    if len(stops) > 1:
        raise ConfigError(
            "the shards were evaluated with and without early stop "
            f"({', '.join(f'{nm}: {r.early_stop}' for r, nm in zip(results, names))}); re-run the "
            "odd ones with the same --early-stop setting"
        )
    n = int(ref["n"])
    _check_tiling(list(zip(infos, names)), n)
    order = sorted(range(len(results)), key=lambda k: infos[k]["start"])
    shards = [results[k] for k in order]
    first = shards[0]
    per_example = {
        key: [v for r in shards for v in r.per_example[key]] for key in first.per_example
    }
    labels = [a["label"] for a in first.attacks]
    worst = [all(vals) for vals in zip(per_example["clean"], *(per_example[k] for k in labels))]
    if per_example.get("worst_case", worst) != worst:
        raise ConfigError("the shards' worst-case flags disagree with their attacks' flags")
    per_example["worst_case"] = worst
    times: dict[str, float] = {}
    for r in shards:
        for key, value in r.times.items():
            times[key] = round(times.get(key, 0.0) + value, 4)
    tags = [f"{infos[k]['index']}/{infos[k]['count']}" for k in order]
    meta = {k: v for k, v in first.meta.items() if k != SHARD_KEY}
    meta["merged_shards"] = [
        {**{k: infos[j][k] for k in ("index", "count", "start", "stop")}, "source": names[j]}
        for j in order
    ]
    return EvalResult(
        suite=first.suite,
        attacks=first.attacks,
        worst_case=first.worst_case,
        n=n,
        clean_acc=_pct(per_example["clean"]),
        robust_acc={k: _pct(per_example[k]) for k in labels},
        worst_case_acc=_pct(worst),
        per_example=per_example,
        times=times,
        flags=_merge_flags(shards, tags),
        eps=first.eps,
        norm=first.norm,
        seed=first.seed,
        batch_size=first.batch_size,
        device=first.device,
        dtype=first.dtype,
        dataset=first.dataset,
        architecture=first.architecture,
        versions=first.versions,
        config_hash=config_hash(ref),
        wall_time=round(sum(r.wall_time for r in shards), 4),
        eps_sweep=first.eps_sweep,
        meta=meta,
        early_stop=first.early_stop,
    )


def _pct(flags: list[bool]) -> float:
    """Percentage of True, from integer counts (as the harness computes it)."""
    return 100.0 * sum(bool(f) for f in flags) / max(len(flags), 1)
