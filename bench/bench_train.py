"""Training-engine speed: the engine (its default precision/layout) vs a plain fp32 PyTorch loop.

Two comparisons on MNISTNet (TRADES SmallCNN) / Fashion-MNIST, side by side in one process:

* natural training: images/s and test accuracy after the same epochs (goal: ratio >= 2.0 where
  the CPU has native bf16, accuracy within 0.3 point);
* TRADES steps (PGD-10 KL attack + update): images/s (goal: ratio >= 1.8), for the faithful default
  (attack in fp32) and with ``attack_autocast=True``.

``precision="auto"`` resolves to fp32 on CPUs without native bf16 (AMX / AVX512-BF16), where bf16
is emulated and slower; the result records the resolved precision and also times an explicit
bf16 + channels_last run so the numbers are comparable across machines.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from robustlab.core.data import load
from robustlab.core.data.batches import epoch_generator
from robustlab.core.models import build
from robustlab.core.train import TrainConfig, train
from robustlab.core.train.evaluate import accuracy
from robustlab.core.train.precision import cpu_has_fast_bf16

CPU = torch.device("cpu")


def plain_natural(
    n_train: int, n_test: int, epochs: int, batch: int, seed: int = 0
) -> dict[str, float]:
    """A plain fp32 loop: SGD(0.01, momentum 0.9), CE, the engine's per-epoch data order (so that
    in fp32 both reach the same accuracy and only the speed differs)."""
    torch.manual_seed(seed)
    tr, te = load("fashion-mnist", "train", n=n_train), load("fashion-mnist", "test", n=n_test)
    model = build("mnistnet", num_classes=10, in_channels=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    seconds = 0.0
    for epoch in range(epochs):
        order = torch.randperm(n_train, generator=epoch_generator(seed, epoch))
        start = time.perf_counter()
        model.train()
        for i in range(0, n_train, batch):
            idx = order[i : i + batch]
            loss = F.cross_entropy(model(tr.x[idx]), tr.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - start
    acc = accuracy(model, te.x, te.y, device=CPU)
    return {"img_per_s": n_train * epochs / seconds, "test_acc": acc, "train_s": seconds}


def engine_run(run_dir: Path, **kw: Any) -> dict[str, Any]:
    cfg = TrainConfig(dataset="fashion-mnist", model="mnistnet", lr=0.01, momentum=0.9, **kw)
    m = train(cfg, run_dir, device="cpu", progress=False).metrics
    return {
        "img_per_s": m["img_per_s"],
        "test_acc": m["clean_acc"],
        "train_s": m["train_seconds"],
        "precision": m["precision"],
        "channels_last": m["channels_last"],
    }


def plain_trades(
    steps: int, batch: int, eps: float = 0.1, alpha: float = 0.01, beta: float = 6.0
) -> float:
    """Images/s of plain fp32 TRADES steps (eval-mode KL attack, 10 steps, then the update)."""
    torch.manual_seed(0)
    data = load("fashion-mnist", "train", n=steps * batch)
    model = build("mnistnet", num_classes=10, in_channels=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    for s in range(steps):
        x, y = data.x[s * batch : (s + 1) * batch], data.y[s * batch : (s + 1) * batch]
        model.eval()
        with torch.no_grad():
            p_clean = F.softmax(model(x), 1)
        x_adv = (x + 0.001 * torch.randn_like(x)).detach()
        for _ in range(10):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), 1), p_clean, reduction="sum")
            (g,) = torch.autograd.grad(kl, x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(
                0, 1
            )
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y) + beta * F.kl_div(
            F.log_softmax(model(x_adv), 1), F.softmax(model(x), 1), reduction="batchmean"
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - start)


def run(quick: bool) -> dict[str, Any]:
    n_train, n_test, epochs = (1024, 1000, 1) if quick else (10240, 10000, 2)
    trades_steps = 3 if quick else 12
    batch = 128
    fast_bf16 = cpu_has_fast_bf16()
    out: dict[str, Any] = {
        "quick": quick,
        "cpu_fast_bf16": fast_bf16,
        "threads": torch.get_num_threads(),
    }
    skipped = "skipped: this CPU has no native bf16 (AMX/AVX512-BF16); emulated bf16 is slower"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        common = dict(
            n_train=n_train, n_test=n_test, epochs=epochs, batch_size=batch, augment=False
        )
        plain = plain_natural(n_train, n_test, epochs, batch)
        eng = engine_run(root / "engine", **common)
        nat: dict[str, Any] = {"plain_fp32": plain, "engine_default": eng}
        nat["speedup_default"] = eng["img_per_s"] / plain["img_per_s"]
        nat["acc_delta_default"] = eng["test_acc"] - plain["test_acc"]
        if fast_bf16 and eng["precision"] != "bf16":
            forced = engine_run(root / "bf16", precision="bf16", channels_last=True, **common)
            nat["engine_bf16_channels_last"] = forced
            nat["speedup_bf16_channels_last"] = forced["img_per_s"] / plain["img_per_s"]
        elif not fast_bf16:
            nat["engine_bf16_channels_last"] = skipped
        nat["goal"] = ">= 2.0x, |acc delta| <= 0.3"
        out["natural"] = nat

        t_common = dict(n_train=trades_steps * batch, n_test=100, epochs=1, batch_size=batch, augment=False,
                        method="trades")  # fmt: skip
        t_opts = {"eps": 0.1, "alpha": 0.01, "steps": 10, "beta": 6.0}
        plain_t = plain_trades(trades_steps, batch)
        faithful = engine_run(root / "t1", method_opts=t_opts, **t_common)
        tr: dict[str, Any] = {"plain_fp32_img_per_s": plain_t, "engine_default": faithful}
        tr["speedup_default"] = faithful["img_per_s"] / plain_t
        if fast_bf16:
            fast = engine_run(
                root / "t2", method_opts={**t_opts, "attack_autocast": True}, precision="bf16",
                channels_last=True, **t_common,
            )  # fmt: skip
            tr["engine_bf16_attack_autocast"] = fast
            tr["speedup_bf16_attack_autocast"] = fast["img_per_s"] / plain_t
        else:
            tr["engine_bf16_attack_autocast"] = skipped
        tr["goal"] = ">= 1.8x"
        out["trades_step"] = tr
    return out
