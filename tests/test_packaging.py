"""The distributions as a user gets them: the sdist carries what a wheel is built from (the
prebuilt JupyterLab extension included, so no Node.js is needed), and the wheel, installed in a
fresh virtual environment, brings the command, the server extension and the lab extension.

`python -m build` builds the sdist, then the wheel from the sdist (as pip does from PyPI), in
its isolated build environment (from the package index, as `.ci/install` does). The virtual
environment sees the suite's installed packages (`--system-site-packages`) for the wheel's
dependencies, so nothing else is downloaded; the wheel itself is installed into the venv and
shadows the checkout's editable install, which the test checks.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from binderfed_sdk import __version__

if TYPE_CHECKING:
    from email.message import Message

ROOT = Path(__file__).resolve().parent.parent
LABEXTENSION = "jupyter_ext/binderfed_jupyter/labextension"


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
