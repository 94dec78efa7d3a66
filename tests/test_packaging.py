"""The distributions as a user gets them: the sdist carries what a wheel is built from (the
prebuilt JupyterLab extension included, so no Node.js is needed), and the wheel, installed in a
fresh virtual environment, brings the command, the server extension and the lab extension.

`python -m build` builds the sdist, then the wheel from the sdist (as pip does from PyPI), in
its isolated build environment (from the package index, as `.ci/install` does). The virtual
environment sees the suite's installed packages (`--system-site-packages`) for the wheel's
dependencies, so nothing else is downloaded; the wheel itself is installed into the venv and
shadows the checkout's editable install, which the test checks.

The sandbox from the same wheel: installed with its `sandbox` extra by `uv` into a virtual
environment of its own (nothing from the suite's packages), `binderfed sandbox demo --down`
launches the demo repository shipped in the wheel, and leaves nothing running.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from binderfed_sdk import __version__

if TYPE_CHECKING:
    from email.message import Message

ROOT = Path(__file__).resolve().parent.parent
LABEXTENSION = "jupyter_ext/binderfed_jupyter/labextension"
#: a cold sandbox: start it, build the demo (a cold uv install), launch, stop
DEMO_TIMEOUT = 420.0


def run(*argv: str | Path, cwd: Path = ROOT, timeout: float = 120) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT, timeout=300)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--system-site-packages", env)
    wheel = next(dist.glob("*.whl"))
    run(env / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    return env


def test_sdist_carries_the_built_labextension_license_examples_and_bench(dist: Path) -> None:
    sdist = next(dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as archive:
        top = f"binderfed_sdk-{__version__}/"
        names = {name.removeprefix(top) for name in archive.getnames()}
        metadata = archive.extractfile(top + "PKG-INFO")
        assert metadata is not None
        check_metadata(email.message_from_bytes(metadata.read()))
    assert {"LICENSE", "README.md", "pyproject.toml", "examples/launch_and_stop.py"} <= names
    assert "examples/session_status.ipynb" in names
    assert "bench/import_time.py" in names
    assert f"{LABEXTENSION}/package.json" in names
    assert f"{LABEXTENSION}/static/style.js" in names
    assert [n for n in names if n.startswith(f"{LABEXTENSION}/static/remoteEntry.")]
    assert not [n for n in names if "node_modules" in n]


def test_wheel_carries_the_extensions_and_license(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"binderfed_sdk-{__version__}.dist-info/"
        check_metadata(email.message_from_bytes(archive.read(info + "METADATA")))
    data = f"binderfed_sdk-{__version__}.data/data/"
    lab = data + "share/jupyter/labextensions/binderfed-jupyterlab/"
    assert {lab + "package.json", lab + "static/style.js", lab + "install.json"} <= names
    assert data + "etc/jupyter/jupyter_server_config.d/binderfed_jupyter.json" in names
    assert info + "licenses/LICENSE" in names


def check_metadata(metadata: Message) -> None:
    assert metadata["License-Expression"] == "BSD-3-Clause"
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt" in classifiers
    assert "Framework :: Jupyter :: JupyterLab :: 4" in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Source", "Issues", "Documentation"}
    assert [r for r in metadata.get_all("Requires-Dist") or [] if r.startswith("rich")]


def test_installed_wheel_brings_the_command_and_both_extensions(venv: Path) -> None:
    python = venv / "bin" / "python"
    where = json.loads(
        run(python, "-c", "import json, binderfed_sdk as b, binderfed_jupyter as j; "
            "print(json.dumps([b.__file__, j.__file__]))", cwd=venv)
    )  # fmt: skip
    assert all(path.startswith(str(venv)) for path in where), where  # the wheel, not the checkout
    assert run(venv / "bin" / "binderfed", "--version").strip() == f"binderfed {__version__}"
    link = run(venv / "bin" / "binderfed", "link", "gh/binder-examples/requirements/HEAD")
    assert "launch    https://mybinder.org/v2/gh/binder-examples/requirements/HEAD" in link
    labextensions = plain(run(python, "-m", "jupyterlab.labextensions", "list", cwd=venv))
    assert f"{venv}/share/jupyter/labextensions\n" in labextensions
    assert f"binderfed-jupyterlab v{__version__} enabled OK" in labextensions
    extensions = plain(
        run(python, "-m", "jupyter_server.extension.serverextension", "list", cwd=venv)
    )
    assert f"Config dir: {venv}/etc/jupyter\n    binderfed_jupyter enabled\n" in extensions
    assert f"binderfed_jupyter {__version__} OK" in extensions


def plain(text: str) -> str:
    """Without the colours Jupyter's commands print."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# --- the sandbox from the wheel ----------------------------------------------------------------


def uv_bin() -> str:
    """The `uv` the sandbox extra brings (the suite installs it), else one on the PATH."""
    try:
        from uv import find_uv_bin  # noqa: PLC0415 - only this test needs it
    except ImportError:
        found = shutil.which("uv")
        assert found, "uv is not installed: pip install uv"
        return found
    return str(find_uv_bin())


@pytest.fixture(scope="module")
def sandbox_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment (no site packages of the suite) with the wheel and its
    `sandbox` extra, as `pip install binderfed-sdk[sandbox]` gives a user; uv, for speed."""
    env = tmp_path_factory.mktemp("sandbox-venv")
    wheel = next(dist.glob("*.whl"))
    uv = uv_bin()
    run(uv, "venv", "--quiet", "--python", sys.executable, env, timeout=120)
    requirement = f"binderfed-sdk[sandbox] @ {wheel.as_uri()}"
    run(uv, "pip", "install", "--quiet", "--python", env / "bin" / "python", requirement,
        timeout=600)  # fmt: skip
    return env


#: runs a command as a child subreaper (Linux): whatever the command leaves running is
#: reparented to this process instead of init, so it can be found, reported and stopped
REAPER = r"""
import ctypes, json, os, subprocess, sys, time
import psutil

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
timeout, out, err, *command = sys.argv[1:]
with open(out, "wb") as stdout, open(err, "wb") as stderr:
    child = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    try:
        code = child.wait(float(timeout))
    except subprocess.TimeoutExpired:
        child.kill()
        code = None
        child.wait()
left = {}
deadline = time.monotonic() + 30
while time.monotonic() < deadline:  # stop what is left (and what it starts meanwhile)
    alive = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            left.setdefault(process.pid, process.cmdline())
            process.kill()
            alive.append(process)
        except psutil.Error:
            continue
    while True:  # reap what was reparented here
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    if not alive:
        break
    time.sleep(0.1)
left = [{"pid": pid, "cmdline": cmdline} for pid, cmdline in left.items()]
print(json.dumps({"returncode": code, "left": left}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the leak check uses Linux's child subreaper")
@pytest.mark.timeout(DEMO_TIMEOUT + 900)
def test_sandbox_demo_from_the_wheel(sandbox_venv: Path, tmp_path: Path) -> None:
    """`binderfed sandbox demo --down --json` from the wheel alone: the demo repository is
    package data, the build reaches `ready` with a real JupyterHub, and `--down` stops every
    process it started (none is left for init to adopt)."""
    python = sandbox_venv / "bin" / "python"
    binderfed = sandbox_venv / "bin" / "binderfed"
    # the wheel's modules, not the checkout's
    where = run(python, "-c", "import binderfed_sdk; print(binderfed_sdk.__file__)", cwd=tmp_path)
    assert where.strip().startswith(str(sandbox_venv)), where
    state = tmp_path / "state"
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BINDERFED_", "VIRTUAL_ENV"))},
        "BINDERFED_SANDBOX_DIR": str(state),
        # the venv's commands first; configurable-http-proxy wherever the machine has it
        "PATH": f"{sandbox_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    reaper = subprocess.run(
        [sys.executable, "-c", REAPER, str(DEMO_TIMEOUT), out, err, binderfed, "sandbox", "demo",
         "--down", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT + 60,
        check=False,
    )  # fmt: skip
    took = time.monotonic() - started
    stderr = err.read_text(errors="replace")
    assert reaper.returncode == 0, reaper.stderr
    result = json.loads(reaper.stdout)
    assert result["returncode"] == 0, f"exit {result['returncode']} after {took:.0f} s\n{stderr}"
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    phases = [line.get("phase") for line in lines]
    assert "ready" in phases, phases
    assert "failed" not in phases
    session = lines[-1]["session"]
    assert session["url"].startswith("http://127.0.0.1:")
    assert session["token"] == "**********"  # no --show-token: masked
    # the session's own processes, not the machine's: far below the sandbox's 2 GiB limit
    assert session["memory_limit_bytes"] == 2 << 30
    assert result["left"] == [], f"left running after --down: {result['left']}\n{stderr}"
    assert not (state / "state.json").exists()  # --down removed it: nothing runs
