"""The two-command quick start: ``dev.py`` (one shared environment, then nox) and the README lines."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("robustlab_dev_bootstrap", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_wheel(folder: Path, version: str = "1.0") -> Path:
    """A minimal pure-Python wheel ``tinybootpkg`` (module ``tinybootpkg`` with ``VALUE = 7``)."""
    folder.mkdir(exist_ok=True)
    info = f"tinybootpkg-{version}.dist-info"
    files = {
        "tinybootpkg.py": "VALUE = 7\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinybootpkg\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in [*files, f"{info}/RECORD"])
    path = folder / f"tinybootpkg-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_ensure_venv_creates_installs_once_and_reuses(
    dev: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    _tiny_wheel(wheels)
    venv = tmp_path / "env"
    offline = ["--no-index", "--find-links", str(wheels)]
    py = dev.ensure_venv(venv, ["tinybootpkg==1.0"], pip_args=offline)
    assert py == dev.venv_python(venv) and py.exists()
    out = subprocess.run(
        [str(py), "-c", "import sys, tinybootpkg; print(tinybootpkg.VALUE, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert out == ["7", str(venv)]

    calls: list[list[str]] = []
    real_run = dev.subprocess.run

    def spy(cmd: list[str], *args: object, **kwargs: object) -> object:
        calls.append(cmd)
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(dev.subprocess, "run", spy)
    assert dev.ensure_venv(venv, ["tinybootpkg==1.0"], pip_args=offline) == py
    assert calls == []  # reused: no venv creation, no pip
    # changed requirements (a newer pin) are installed into the same environment
    _tiny_wheel(wheels, "1.1")
    dev.ensure_venv(venv, ["tinybootpkg==1.1"], pip_args=offline)
    assert len(calls) == 1 and calls[0][:4] == [str(py), "-m", "pip", "install"]
    assert (venv / dev.STAMP_NAME).read_text() == "tinybootpkg==1.1\n"


def test_failed_pip_leaves_no_stamp_and_says_so(dev: ModuleType, tmp_path: Path) -> None:
    venv = tmp_path / "env"
    offline = ["--no-index", "--find-links", str(tmp_path)]
    with pytest.raises(dev.BootstrapError, match="could not install no-such-robustlab-pkg"):
        dev.ensure_venv(venv, ["no-such-robustlab-pkg"], pip_args=offline)
    assert dev.venv_python(venv).exists() and not (venv / dev.STAMP_NAME).exists()


def test_missing_venv_module_names_the_debian_package(
    dev: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = (
        "The virtual environment was not created successfully because ensurepip is not available."
    )
    failed = subprocess.CompletedProcess(["python3"], 1, stdout=debian, stderr="")
    monkeypatch.setattr(dev, "_make_venv", lambda venv, python: failed)
    monkeypatch.setattr(dev, "_is_debian_root", lambda: False)
    with pytest.raises(dev.BootstrapError, match=r"apt-get install python3\.\d+-venv"):
        dev.create_venv(tmp_path / "env")
    assert not (tmp_path / "env").exists()
    monkeypatch.setenv(dev.VENV_ENV, str(tmp_path / "env"))
    assert dev.main(["-l"]) == 1


def test_main_runs_nox_inside_the_environment(
    dev: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "shared env"
    monkeypatch.setenv(dev.VENV_ENV, str(venv))
    monkeypatch.setenv("PYTHONHOME", "/nowhere")
    seen: dict[str, object] = {}

    def fake_ensure(v: Path) -> Path:
        seen["venv"] = v
        return Path("/py")

    monkeypatch.setattr(dev, "ensure_venv", fake_ensure)

    class ExecError(Exception):  # execve never returns
        pass

    def fake_execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env)
        raise ExecError

    monkeypatch.setattr(dev.os, "execve", fake_execve)
    monkeypatch.setattr(dev.os, "chdir", lambda path: seen.update(cwd=path))
    with pytest.raises(ExecError):
        dev.main(["-s", "tests", "--", "-k", "x"])
    assert seen["venv"] == venv
    nox = ["/py", "-m", "nox", "-f", str(ROOT / "noxfile.py")]
    assert seen["argv"] == [*nox, "-s", "tests", "--", "-k", "x"]
    env = seen["env"]
    assert isinstance(env, dict)
    assert env["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    assert env["VIRTUAL_ENV"] == str(venv) and "PYTHONHOME" not in env
    assert seen["cwd"] == dev.ROOT


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Start here", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's Start here has no bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quick_start_is_two_commands_the_second_being_ci(dev: ModuleType) -> None:
    main_job, tests = _quick_start()
    readme = (ROOT / "README.md").read_text()
    (test_command,) = re.findall(r"^Test command: `(.*)`$", readme, re.M)
    assert tests == test_command
    assert main_job.startswith("python3 dev.py ") and "reproduce-ctr" in main_job
    assert tests.startswith("python3 dev.py ")
    # .ci/run runs that line verbatim (the sed expression it uses finds exactly it)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "Test command:" in ci and 'bash -c "$cmd"' in ci and "dataset-fashion-mnist" in ci


def test_readme_lines_name_real_nox_sessions() -> None:
    pytest.importorskip("nox")
    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-l"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sessions = set(re.findall(r"^[*-] (\S+)", listed, re.M))
    for line in _quick_start():
        args = line.split()[2:]
        names = args[args.index("-s") + 1 :]
        names = names[: names.index("--")] if "--" in names else names
        assert names and set(names) <= sessions, f"{line}: unknown session in {sorted(sessions)}"
    assert "build" in sessions
