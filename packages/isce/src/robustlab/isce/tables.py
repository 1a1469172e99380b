"""Which run and metric fills each cell, per profile; the attack suites; the eps-sweep analysis.

One run per (dataset, model): trained once, evaluated with one independent-mode suite (every
attack on every clean-correct image, the same first ``n_eval`` test images for every model, so
claims use McNemar's paired test). Attack labels are the table rows, so a metric is
``"acc/" + row``:

* ``PGD-<k> <untargeted|targeted> eps=<e>``: core ``pgd-l2``, k in {10, 50}, step 2.5 e / k, random
  start; targeted = the least-likely class (sec. 4). Tables 1-2 rows use the paper's eps (0.01,
  0.02, 0.04) in per-pixel units: the attack's L2 eps is ``e * sqrt(d)`` (README decision 11).
* ``FGSM eps=<e>`` (L2, single step: masking check), ``DeepFool eps=<e>`` (50 steps, accuracy
  within the L2 ball), ``SimBA eps=<e>`` (``max_queries`` 300 MNIST/FMNIST, 500 CIFAR-10).
* AutoAttack standard L2 at every budget: added by core (``aa/L2 eps=<e>``) on the same images.
* ``sweep/PGD-50 eps=<e>``: the analysis ``isce/eps-sweep`` (growing eps: accuracy must reach 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.eval import AttackSpec, Suite
from robustlab.core.repro import ANALYSES, Profile, RunSpec
from robustlab.isce.defaults import DATASETS, grid_name, preset, run_id

__all__ = ["eps_sweep", "model_names", "pgd_row", "runs", "suite", "table_eps_l2"]


def pgd_row(steps: int, targeted: bool, eps: float) -> str:
    """Row/label of an L2 PGD attack, e.g. ``"PGD-50 untargeted eps=1"``."""
    return f"PGD-{steps} {'targeted' if targeted else 'untargeted'} eps={eps:g}"


def table_eps_l2(key: str, eps: float) -> float:
    """Pixel-space L2 eps of a Tables 1-2 eps (per-pixel units): ``eps * sqrt(d)``."""
    return round(eps * DATASETS[key][1], 4)


def model_names(profile: Profile) -> list[str]:
    """Column suffixes the profile trains (its models plus the Fig. 4 grid points)."""
    return list(profile.models) + [grid_name(s, m) for s, m in profile.grid]


def _pgd(label: str, eps: float, steps: int, targeted: bool) -> AttackSpec:
    kw: dict[str, Any] = {"eps": eps, "alpha": 2.5 * eps / steps, "steps": steps}
    kw["random_start"] = True
    if targeted:
        kw.update(targeted=True, target="least-likely")
    return AttackSpec(label, "pgd-l2", kw)


def suite(profile: Profile, key: str, name: str) -> Suite:
    """The attacks run on one model (independent mode)."""
    specs: list[AttackSpec] = []
    queries = DATASETS[key][2]
    for eps in profile.eps:
        for steps in (10, 50):
            for targeted in (False, True):
                specs.append(_pgd(pgd_row(steps, targeted, eps), eps, steps, targeted))
        specs.append(AttackSpec(f"FGSM eps={eps:g}", "fgsm", {"eps": eps, "norm": "L2"}))
        specs.append(
            AttackSpec(f"DeepFool eps={eps:g}", "deepfool", {"eps": eps, "norm": "L2", "steps": 50})
        )
        specs.append(
            AttackSpec(
                f"SimBA eps={eps:g}", "simba", {"eps": eps, "norm": "L2", "max_queries": queries}
            )
        )
    if name in ("I-SCE", "AT"):  # Tables 1-2 columns (per-pixel eps)
        for e in profile.table_eps:
            if (key == "CIFAR-10" and e == 0.02) or (key != "CIFAR-10" and e == 0.01):
                continue
            for targeted in (False, True):
                specs.append(_pgd(pgd_row(50, targeted, e), table_eps_l2(key, e), 50, targeted))
    return Suite(f"isce/{profile.name}-{key.lower()}", specs, worst_case=False)


def runs(profile: Profile) -> dict[str, RunSpec]:
    """Every run of the profile: one per (dataset, model), with the eps-sweep analysis."""
    out: dict[str, RunSpec] = {}
    for key in profile.datasets:
        for name in model_names(profile):
            rid = run_id(key, name)
            cfg = preset(profile, key, name).train_config()
            sweep = ("isce/eps-sweep", {"eps": tuple(profile.sweep_eps), "steps": 50})
            out[rid] = RunSpec(
                rid,
                (cfg,),
                suite(profile, key, name),
                profile.n_eval,
                analyses=(sweep,),
                autoattack_n=getattr(profile, "aa_n", None),
            )
    return out


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return model(x).argmax(dim=1) == y


def eps_sweep(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: tuple[float, ...] = (2.0, 4.0, 8.0),
    steps: int = 50,
    batch_size: int = 250,
    seed: int = 0,
) -> dict[str, float]:
    """Masking check "eps growing until accuracy reaches 0" (Carlini et al. 2019).

    L2 PGD-``steps`` (step 2.5 eps / steps, random start) at each eps on (x, y): x (N, C, H, W)
    in [0, 1], y (N,). Returns ``{"sweep/PGD-50 eps=<e>": accuracy in percent}`` per eps and
    ``"sweep/eps_to_zero"``: the smallest swept eps with accuracy <= 1 %, or -1 if none (a
    masking sign: an unbounded attack must reach 0 %).
    """
    from robustlab.core.attacks import ATTACKS

    out: dict[str, float] = {}
    zero = -1.0
    for e in eps:
        attack = ATTACKS.build(
            "pgd-l2", eps=e, alpha=2.5 * e / steps, steps=steps, random_start=True, seed=seed
        )
        correct = 0
        for i in range(0, len(y), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            with torch.enable_grad():
                adv = attack(model, xb, yb)
            correct += int(_accuracy(model, adv, yb).sum())
        acc = 100.0 * correct / max(1, len(y))
        out[f"sweep/PGD-{steps} eps={e:g}"] = acc
        if zero < 0 and acc <= 1.0:
            zero = float(e)
    out["sweep/eps_to_zero"] = zero
    return out


ANALYSES.register("isce/eps-sweep", eps_sweep)
