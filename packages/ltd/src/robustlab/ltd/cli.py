"""``robustlab ltd tau-search``: the two-step temperature search of section 4.3.

Step 1: for each candidate tau, train the natural-only student (eq. 28 without the KL term:
core ``natural`` with the ``ltd/soft-ce`` objective, clean data) and keep
``tau_max`` = the highest tau whose clean test accuracy reaches ``--threshold`` (default: the
teacher's clean accuracy minus 5 points). Step 2: train TRADES + LTD (full eq. 28) for every
candidate in ``[1, tau_max]`` plus the TRADES baseline, evaluate them on the same test images and
print the Table 6 analog; ``tau_best`` = the highest robust accuracy (ties: higher clean, lower tau).
Runs are ordinary core training runs under ``<runs-dir>/ltd/tau-search/<profile>/`` (resumable).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from robustlab.core.errors import ConfigError
from robustlab.core.utils import get_logger

__all__ = ["add_tau_search", "tau_search"]

log = get_logger(__name__)


def add_tau_search(paper: Any, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tau-search`` to ``robustlab ltd``."""
    p = subparsers.add_parser("tau-search", help="section 4.3: search the teacher temperature")
    p.add_argument("--profile", default="quick", help="settings of the runs (quick, fmnist, paper)")
    p.add_argument(
        "--taus", default="1,2,3,5,8,12,20", help="comma-separated candidate temperatures"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="step 1's clean-accuracy threshold in percent (default teacher - 5)",
    )
    p.add_argument("--suite", default="pgd20", help="robust evaluation of step 2 (core suite)")
    p.add_argument("--n-eval", type=int, default=None, help="test images (default: the profile's)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--device", default=None)
    p.set_defaults(func=lambda args: _main(paper, args))


def _main(paper: Any, args: argparse.Namespace) -> int:
    try:
        taus = [float(t) for t in str(args.taus).split(",") if t.strip()]
    except ValueError as exc:
        raise ConfigError(f"--taus must be comma-separated numbers, got {args.taus!r}") from exc
    out = tau_search(
        paper.profile(args.profile),
        taus,
        threshold=args.threshold,
        suite=args.suite,
        n_eval=args.n_eval,
        runs_dir=Path(args.runs_dir),
        device=args.device,
    )
    print(out["table"])  # noqa: T201 - the command's output
    return 0


def tau_search(
    profile: Any,
    taus: list[float],
    *,
    threshold: float | None = None,
    suite: str = "pgd20",
    n_eval: int | None = None,
    runs_dir: Path = Path("runs"),
    device: str | None = None,
) -> dict[str, Any]:
    """Run both steps; returns ``{"tau_max", "tau_best", "natural", "results", "table"}``.

    Args:
        profile: An LTD :class:`Profile` (its dataset, model, budget and eps).
        taus: Candidate temperatures (> 0).
        threshold: Step 1's minimum clean accuracy in percent; None = teacher's - 5.
        suite: Core suite name for step 2's robust accuracy (at the profile's eps).
        n_eval: Test images for every evaluation (None: the profile's ``n_eval``).
        runs_dir: Root of the run directories.
        device: Torch device (None: best available).

    Returns:
        natural: tau -> clean accuracy (%) of step 1; results: tau -> (clean, robust) (%) of
        step 2 plus "TRADES"; table: the printed Table 6 analog.
    """
    from robustlab.core.eval import evaluate
    from robustlab.core.train import train
    from robustlab.ltd.defaults import student_preset, teacher_preset
    from robustlab.ltd.tau_search import select_tau_best, select_tau_max, taus_up_to

    if not taus:
        raise ConfigError("tau-search needs at least one candidate temperature (--taus)")
    root = Path(runs_dir) / "ltd" / "tau-search" / profile.name
    n = n_eval if n_eval is not None else profile.n_eval
    teacher = train(teacher_preset(profile).train_config(), root / "teacher", device, False)
    needs = {"teacher": str(root / "teacher")}

    def clean_acc(model: Any) -> float:
        return _clean_accuracy(model, profile.dataset, n, device)

    limit = clean_acc(teacher.model) - 5.0 if threshold is None else float(threshold)
    natural: dict[float, float] = {}
    for tau in taus:  # step 1: soft-label term only, clean data
        cfg = (
            teacher_preset(profile)
            .train_config()
            .replace(
                method_opts={"objective": {"name": "ltd/soft-ce", "tau": tau}},
                needs=needs,
                epochs=profile.epochs,
            )
        )
        natural[tau] = clean_acc(train(cfg, root / f"natural-t{tau:g}", device, False).model)
        log.info("tau-search step 1: tau %g clean %.2f%%", tau, natural[tau])
    tau_max = select_tau_max(natural, limit)
    results: dict[Any, tuple[float, float]] = {}
    grid: list[float | None] = [None, *taus_up_to(taus, tau_max)]
    for t in grid:  # step 2: full eq. 28 (None = the TRADES baseline)
        key: Any = "TRADES" if t is None else t
        cfg = student_preset(profile, tau=t).train_config()
        if t is not None:
            cfg = cfg.replace(needs=needs)
        rid = "trades" if t is None else f"ltd-t{t:g}"
        model = train(cfg, root / rid, device, False).model
        res = evaluate(
            model, profile.dataset, suite, n=n, device=device, progress=False, eps=profile.eps
        )
        results[key] = (float(res.clean_acc), float(res.worst_case_acc))
    tau_best = select_tau_best({k: v for k, v in results.items() if k != "TRADES"}, tau_max)
    lines = [
        f"step 1 (natural-only students, threshold {limit:.2f}%): "
        + ", ".join(f"tau {t:g}: {a:.2f}" for t, a in natural.items())
        + f" -> tau_max {tau_max:g}",
        f"step 2 (Table 6 analog, {profile.dataset} {profile.model}, robust = {suite} "
        f"eps {profile.eps:g}, n {n}):",
        "| row | acc_nat | acc_robust |",
        "|---|---|---|",
    ]
    for key, (c, r) in results.items():
        name = key if key == "TRADES" else f"T={float(key):.1f}"
        mark = " (tau_best)" if key == tau_best else ""
        lines.append(f"| {name}{mark} | {c:.2f} | {r:.2f} |")
    return {
        "tau_max": tau_max,
        "tau_best": tau_best,
        "natural": natural,
        "results": results,
        "table": "\n".join(lines),
    }


def _clean_accuracy(model: Any, dataset: str, n: int | None, device: str | None) -> float:
    """Clean test accuracy in percent of ``model`` on the first ``n`` test images."""
    import torch

    from robustlab.core.data import load

    data = load(dataset, "test", n=n)
    dev = next(model.parameters()).device if device is None else torch.device(device)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data.y), 512):
            logits = model(data.x[i : i + 512].to(dev))
            correct += int((logits.argmax(1).cpu() == data.y[i : i + 512]).sum())
    return 100.0 * correct / len(data.y)
