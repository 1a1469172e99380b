"""``robustlab eval`` on a LeNet-5 checkpoint and Fashion-MNIST's first test examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustlab.core import models
from robustlab.core.cli import main
from robustlab.core.errors import DataNotFoundError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from robustlab.core.data import load

    try:
        load("fashion-mnist", "test", n=1)
    except DataNotFoundError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Fashion-MNIST not installed: {exc}")
    path = tmp_path_factory.mktemp("ckpt") / "lenet5.safetensors"
    models.save_checkpoint(path, models.build("lenet5", num_classes=10, in_channels=1), {})
    return path


def test_cli_eval_writes_json(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.json"
    code = main(
        [
            "eval",
            "--model",
            "lenet5",
            "--checkpoint",
            str(checkpoint),
            "--dataset",
            "fashion-mnist",
            "--suite",
            "fgsm;pgd:steps=3",
            "--eps",
            "8/255",
            "--n",
            "48",
            "--batch-size",
            "16",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-progress",
            "--mode",
            "independent",
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["eps"] == "8/255" and data["dataset"] == "fashion-mnist"
    assert data["architecture"] == "lenet5"
    body = data["robustlab"]
    assert body["n"] == 48 and body["mode"] == "independent" and body["batch_size"] == 16
    assert set(body["robust_acc"]) == {"fgsm", "pgd:steps=3"}
    assert not Path(f"{out}.state.json").exists()  # the state file is removed once finished
    assert "worst case" in capsys.readouterr().out


def test_cli_eval_model_from_checkpoint(checkpoint: Path, capsys) -> None:
    code = main(
        [
            "eval",
            "--checkpoint",
            str(checkpoint),
            "--dataset",
            "fashion-mnist",
            "--suite",
            "fgsm",
            "--n",
            "16",
            "--no-progress",
            "--no-checks",
        ]
    )
    assert code == 0
    assert "FGSM" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--suite", "fgsm;nope:steps=2"], "unknown attack 'nope'"),
        (["--eps", "8/0"], "zero denominator"),
        (["--n", "0"], "--n must be >= 1"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--checkpoint", "/nonexistent/x.safetensors"], "does not exist"),
        (["--model", "nope"], "unknown model"),
    ],
)
def test_cli_eval_errors(checkpoint: Path, capsys, extra: list[str], message: str) -> None:
    args = [
        "eval",
        "--checkpoint",
        str(checkpoint),
        "--dataset",
        "fashion-mnist",
        "--n",
        "8",
        "--no-progress",
        *extra,
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
