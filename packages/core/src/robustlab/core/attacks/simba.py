"""SimBA (Guo et al., "Simple Black-box Adversarial Attacks", ICML 2019), pixel and DCT bases.

Score-based: walk through orthonormal basis directions q_1, q_2, ... in random order (DCT: low
frequencies first). For each q, try ``x - alpha q`` and, if that does not increase the objective,
``x + alpha q``; keep the first that does. With the default loss "ce" the objective is monotone in
``-p_y`` (untargeted) or ``p_t`` (targeted), exactly the paper's criterion. Candidates are projected
onto the eps-ball and [0, 1] before they are queried. One query = one forward of one example.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks.base import (
    ATTACKS,
    Attack,
    _check_number,
    check_positive_int,
    project,
)

BASES = ("pixel", "dct")


def dct_matrix(n: int, device: torch.device | None = None) -> Tensor:
    """Orthonormal DCT-II matrix (n, n); row u is the u-th cosine basis vector."""
    i = torch.arange(n, dtype=torch.float64)
    mat = torch.cos(math.pi * (2 * i[None, :] + 1) * i[:, None] / (2 * n)) * math.sqrt(2 / n)
    mat[0] /= math.sqrt(2)
    return mat.float().to(device)


def low_frequency_order(c: int, h: int, w: int, gen: torch.Generator | None) -> Tensor:
    """Flat (c, u, v) indices ordered by growing square frequency blocks ``max(u, v)``, shuffled
    within each block (the paper's low-frequency-first DCT ordering)."""
    u = torch.arange(h)[:, None].expand(h, w)
    v = torch.arange(w)[None, :].expand(h, w)
    ring = torch.maximum(u, v).reshape(1, -1).expand(c, -1).reshape(-1)
    noise = torch.rand(ring.shape, generator=gen, device=gen.device if gen else None).cpu()
    return torch.argsort(ring.double() + noise.double() * 0.5)


class SimBA(Attack):
    """Simple Black-box Attack (score-based).

    Args:
        eps: Radius of the threat model (default inf; the perturbation of SimBA-pixel is naturally
            bounded by ``alpha`` in Linf).
        alpha: Step size along each basis direction (> 0); default 0.2.
        basis: "pixel" or "dct".
        max_queries: Query budget per example (>= 1); default 1000.
        **kwargs: ``norm`` (default "L2"), ``targeted``, ``target``, ``loss``, ``seed``,
            ``autocast``. Fooled examples stop querying (SimBA always stops at success).

    Shapes: x (B, C, H, W) in [0, 1], y (B,) -> x_adv (B, C, H, W).
    """

    name = "simba"
    kind = "black-box"
    norms = ("L2", "Linf")

    def __init__(
        self,
        eps: float = float("inf"),
        alpha: float = 0.2,
        basis: str = "pixel",
        max_queries: int = 1000,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("norm", "L2")
        super().__init__(eps, **kwargs)
        _check_number("alpha", alpha, low=0.0, strict=True, allow_inf=False)
        check_positive_int("max_queries", max_queries)
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        self.alpha, self.basis, self.max_queries = float(alpha), basis, max_queries

    def _direction(self, index: int, shape: tuple[int, ...], mats: tuple[Tensor, Tensor] | None):
        c, h, w = shape
        q = torch.zeros(c * h * w, device=mats[0].device if mats else None)
        if mats is None:
            q[index] = 1.0
            return q.reshape(c, h, w)
        ch, rem = divmod(index, h * w)
        u, v = divmod(rem, w)
        q = q.reshape(c, h, w)
        q[ch] = torch.outer(mats[0][u], mats[1][v])
        return q

    def _perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: dict[str, Any]) -> Tensor:
        gen = self.generator(x.device)
        c, h, w = x.shape[1:]
        if self.basis == "pixel":
            order = torch.randperm(c * h * w, generator=gen, device=x.device).cpu()
            mats = None
        else:
            order = low_frequency_order(c, h, w, gen)
            mats = (dct_matrix(h, x.device), dct_matrix(w, x.device))
        x_adv = x.clone()
        logits = ctx["logits_clean"]
        score = self.objective(logits, y, ctx)
        done = self.fooled(logits, y, ctx)
        queries = torch.zeros(len(x), dtype=torch.long, device=x.device)
        for index in order.tolist():
            act = (~done & (queries < self.max_queries)).nonzero().squeeze(1)
            if act.numel() == 0:
                break
            q = self._direction(index, (c, h, w), mats).to(x.dtype)
            sub = self.sub_ctx(ctx, act)
            pending = torch.ones(len(act), dtype=torch.bool, device=x.device)
            for sign in (-1.0, 1.0):
                sel = (pending & (queries[act] < self.max_queries)).nonzero().squeeze(1)
                if sel.numel() == 0:
                    break
                rows = act[sel]
                cand = project(x_adv[rows] + sign * self.alpha * q, x[rows], self.eps, self.norm)
                with torch.no_grad():
                    out = model(cand)
                queries[rows] += 1
                new = self.objective(out, y[rows], self.sub_ctx(sub, sel))
                ok = new > score[rows]
                x_adv[rows[ok]] = cand[ok]
                score[rows[ok]] = new[ok]
                done[rows[ok]] |= self.fooled(out[ok], y[rows[ok]], self.sub_ctx(sub, sel[ok]))
                pending[sel[ok]] = False
        return x_adv


@ATTACKS.register("simba")
def _simba(**kwargs: Any) -> SimBA:
    return SimBA(**kwargs)
