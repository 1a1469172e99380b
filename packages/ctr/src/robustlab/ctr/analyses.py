"""Post-training analyses of the CTR paper, registered in core's ``ANALYSES``.

Each is ``fn(model, x, y, **kw) -> dict[str, float]`` with ``x`` (N, C, H, W) in [0, 1] and ``y``
(N,) the run's evaluation examples; the returned keys are merged into the run's metrics.

* ``ctr/wrong-class-below-threshold`` -- Table 4: how many wrong-class probabilities of the
  test set lie below the theoretical confidence threshold 1/(C-1).
* ``ctr/empirical-ct-curve`` -- Fig. 6: the same count for a decreasing list of thresholds.
* ``ctr/attack-accuracy`` -- accuracy (and attack success rate) under a list of attacks on the
  first ``n`` examples: the FGSM/PGD accuracy-vs-eps curves of Fig. 3-5 and Table 7's ASR.

Attack success rate (Table 7) is ``100 - accuracy under attack`` on all evaluated inputs: every
printed ASR is a multiple of 0.05, i.e. a count over the 2000 evaluated inputs, which a rate over
only the correctly classified inputs would not give.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.core.repro import ANALYSES
from robustlab.ctr.losses import wrong_class_probs

__all__ = [
    "DEFAULT_CT_THRESHOLDS",
    "attack_accuracy",
    "ct_key",
    "empirical_ct_curve",
    "predict_probs",
    "wrong_class_below_threshold",
]

#: Fig. 6's x-axis: empirical thresholds from the theoretical 1/9 (C = 10) downwards.
DEFAULT_CT_THRESHOLDS = (1 / 9, 0.1, 0.08, 0.06, 0.04, 0.02, 0.01, 0.005, 0.001)


def ct_key(threshold: float) -> str:
    """Metric key of a Fig. 6 point, e.g. ``"count/below_ct=0.1111"``."""
    return f"count/below_ct={threshold:.4f}"


@torch.no_grad()
def predict_probs(model: nn.Module, x: Tensor, batch_size: int = 500) -> Tensor:
    """Softmax probabilities (N, C) in float32 of ``model`` in eval mode (its mode is restored)."""
    was_training = model.training
    model.eval()
    try:
        out = [F.softmax(model(xb).float(), dim=-1) for xb in x.split(batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def _data(
    x: Tensor, y: Tensor, dataset: str | None, data_root: str | None
) -> tuple[Tensor, Tensor]:
    """The given examples, or the whole test split of ``dataset`` on ``x``'s device."""
    if dataset is None:
        return x, y
    from robustlab.core.data import load

    test = load(dataset, "test", root=data_root)
    return test.x.to(x.device), test.y.to(x.device)


def _counts(probs: Tensor, y: Tensor, thresholds: list[float]) -> dict[float, float]:
    wrong = wrong_class_probs(probs, y.to(probs.device))
    return {t: float((wrong < t).sum().item()) for t in thresholds}


def wrong_class_below_threshold(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    dataset: str | None = None,
    data_root: str | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Table 4: number of wrong-class probabilities below the theoretical CT 1/(C-1).

    Args:
        model: Classifier (evaluated in eval mode).
        x, y: Evaluation examples, used unless ``dataset`` is given.
        dataset: Count over this dataset's whole test split (Table 4 uses the full test set).
        data_root: Optional data directory for ``dataset``.
        batch_size: Inference batch size.

    Returns:
        ``count/below_threshold`` (the Table 4 number; at most N(C-1)), ``count/wrong_total``
        (N(C-1)) and ``pct/below_threshold`` (their ratio in percent).
    """
    xs, ys = _data(x, y, dataset, data_root)
    probs = predict_probs(model, xs, batch_size)
    C = probs.shape[1]
    below = _counts(probs, ys, [1.0 / (C - 1)])[1.0 / (C - 1)]
    total = float(ys.shape[0] * (C - 1))
    return {
        "count/below_threshold": below,
        "count/wrong_total": total,
        "pct/below_threshold": 100.0 * below / total,
    }


def empirical_ct_curve(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    thresholds: list[float] | tuple[float, ...] = DEFAULT_CT_THRESHOLDS,
    dataset: str | None = None,
    data_root: str | None = None,
    batch_size: int = 500,
) -> dict[str, float]:
    """Fig. 6: number of wrong-class probabilities below each empirical threshold.

    Returns:
        ``{ct_key(t): count}`` for every threshold ``t`` (keys ``count/below_ct=0.1111``, ...).
    """
    if not thresholds or any(not 0.0 < float(t) <= 1.0 for t in thresholds):
        raise ValueError(
            f"thresholds must be a non-empty list of values in (0, 1], got {thresholds!r}"
        )
    xs, ys = _data(x, y, dataset, data_root)
    counts = _counts(predict_probs(model, xs, batch_size), ys, [float(t) for t in thresholds])
    return {ct_key(t): c for t, c in counts.items()}


def attack_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    attacks: list[dict[str, Any]],
    n: int | None = None,
    asr: bool = False,
    prefix: str = "",
    batch_size: int = 500,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy (%) under each attack on the first ``n`` examples (model in eval mode).

    Args:
        model: Classifier.
        x, y: Evaluation examples.
        attacks: Attack specs as dicts ``{"label", "attack", "kwargs"}`` (core's
            ``AttackSpec.to_dict`` form; JSON-able so the run's config hash covers them).
        n: Use the first n examples (None: all).
        asr: Also return the attack success rate ``100 - accuracy`` as ``asr/<label>``.
        prefix: Prepended to every key (e.g. "t7/" to keep Table 7's attacks apart).
        batch_size: Evaluation batch size.
        seed: Seed of the attacks' randomness.

    Returns:
        ``acc/<label>`` for each attack, ``clean_acc`` (on the same examples; core's figures
        draw it at eps 0) and ``asr/<label>`` if asked, each behind ``prefix``, and ``n_eval``
        (the number of examples attacked, so verdicts use the right n).
    """
    from robustlab.core.eval import AttackSpec, Suite, evaluate

    if not attacks:
        raise ValueError("attacks must list at least one attack spec")
    specs = [AttackSpec.from_dict(a) for a in attacks]
    xs, ys = (x, y) if n is None else (x[:n], y[:n])
    # one evaluation per objective, so that core's sanity checks (iterative >= single-step)
    # compare attacks on the same loss, not e.g. PGD on STD with FGSM on CE
    groups: dict[str, list[Any]] = {}
    for spec in specs:
        key = f"{spec.attack if str(spec.attack).startswith('ctr/') else ''}|{spec.kwargs.get('loss', 'ce')}"
        groups.setdefault(key, []).append(spec)
    acc: dict[str, float] = {}
    clean = 0.0
    was_training = model.training
    model.eval()
    try:
        for key, group in groups.items():
            result = evaluate(
                model,
                (xs, ys),
                Suite(f"ctr/attack-accuracy{key}", group, worst_case=False),
                batch_size=batch_size,
                device=xs.device,
                seed=seed,
                progress=False,
            )
            clean = float(result.clean_acc)
            acc |= {s.label: float(result.robust_acc[s.label]) for s in group}
    finally:
        model.train(was_training)
    out: dict[str, float] = {f"{prefix}clean_acc": clean, f"{prefix}n_eval": float(len(ys))}
    for spec in specs:
        out[f"{prefix}acc/{spec.label}"] = acc[spec.label]
        if asr:
            out[f"{prefix}asr/{spec.label}"] = 100.0 - acc[spec.label]
    return out


def register() -> None:
    """Register the analyses in core's ANALYSES (idempotent)."""
    for name, fn in (
        ("ctr/wrong-class-below-threshold", wrong_class_below_threshold),
        ("ctr/empirical-ct-curve", empirical_ct_curve),
        ("ctr/attack-accuracy", attack_accuracy),
    ):
        if name not in ANALYSES:
            ANALYSES.register(name, fn)


register()
