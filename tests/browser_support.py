"""Helpers of the browser test: a real JupyterLab in a Binder-like environment, Debian's
Chromium driven by Python Playwright.

Nothing here downloads a browser: Chromium comes from the system (`apt-get install chromium`)
and a missing one is a test failure with the install line, never a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from jupyter_core.paths import jupyter_path

#: Debian's Chromium; Playwright's own downloaded browsers are never used
CHROMIUM = Path(os.environ.get("BINDERFED_CHROMIUM", "/usr/bin/chromium"))
#: as root Chromium needs --no-sandbox; the rest keep it from calling outside hosts
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
]
#: the npm package name of the JupyterLab extension (js/package.json)
LABEXTENSION = "binderfed-jupyterlab"
#: where the test leaves its screenshots (git-ignored)
OUTPUT_DIR = Path(__file__).resolve().parents[1] / "test-output" / "browser"

SHA = "b8e7f7c4f1e1e1a0a4d1f3c2e5b6a7d8c9e0f1a2"
REPO_URL = "https://github.com/binder-examples/requirements"
MEMBER = "hetzner-gesis"


def binder_environment(sha: str = SHA) -> dict[str, str]:
    """The variables a mybinder.org session has (repo2docker's and the KubeSpawner's)."""
    return {
        "BINDER_REPO_URL": REPO_URL,
        "BINDER_REF_URL": f"{REPO_URL}/tree/{sha}",
        "BINDER_LAUNCH_HOST": "https://mybinder.org/",
        "BINDER_PERSISTENT_REQUEST": f"v2/gh/binder-examples/requirements/{sha}",
        "BINDER_REQUEST": "v2/gh/binder-examples/requirements/HEAD",
        "MEM_LIMIT": "2147483648",
        "MEM_GUARANTEE": "471859200",
        "CPU_LIMIT": "1",
        "BINDERFED_MEMBER": MEMBER,
    }


def federation_without_cpu_budget(folder: Path) -> Path:
    """mybinder.org's federation file with no CPU-time budget, for `BINDERFED_FEDERATION`.

    On a machine that is not a Binder pod the cgroup is the machine's: its CPU time since
    boot would use up the budget and every reading would say "< 1 min left" (rightly, for
    that reading). The server extension and the kernel's widget both read this file.
    """
    data = json.loads(
        (resources.files("binderfed_sdk") / "federations" / "mybinder.json").read_text()
    )
    data["limits"]["cpu_seconds"] = None
    path = folder / "mybinder-no-cpu-budget.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def require_chromium() -> Path:
    """Debian's Chromium, or a failure saying how to install it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's with "
            "`apt-get update && apt-get install -y chromium` "
            "(never `playwright install`), or point BINDERFED_CHROMIUM at one",
            pytrace=False,
        )
    return CHROMIUM


def require_labextension() -> Path:
    """The installed, built labextension, or a failure saying how to build it."""
    for base in jupyter_path("labextensions"):
        package = Path(base) / LABEXTENSION / "package.json"
        if package.is_file():
            data = json.loads(package.read_text())
            if data.get("jupyterlab", {}).get("_build", {}).get("load"):
                return package.parent
    pytest.fail(
        f"the JupyterLab extension {LABEXTENSION} is not built or not installed: run "
        "`pip install -e .` (it runs `jlpm build` in js/; needs Node.js >= 20), then check "
        "`jupyter labextension list`",
        pytrace=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: user settings that keep JupyterLab's own toasts (news, update checks) off the page
_QUIET_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass
class JupyterLab:
    """A real JupyterLab (`python -m jupyterlab`) on 127.0.0.1, stopped by PID; with
    `app="notebook"`, a real Notebook 7 (`python -m notebook`), built on the same parts."""

    root: Path
    env: dict[str, str]
    app: str = "jupyterlab"
    #: written to the server's (isolated) config dir as jupyter_server_config.json
    server_config: dict[str, Any] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def lab_url(self) -> str:
        return f"{self.url}lab?token={self.token}"

    @property
    def log_path(self) -> Path:
        return self.root / "jupyterlab.log"

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def start(self, timeout: float = 45.0) -> None:
        notebooks = self.root / "notebooks"
        settings = self.root / "settings"
        for path in (notebooks, settings):
            path.mkdir(parents=True, exist_ok=True)
        for name, value in _QUIET_SETTINGS.items():
            target = settings / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        config_dir = self.root / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(self.server_config))
        env = {
            **os.environ,
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "IPYTHONDIR": str(self.root / "ipython"),
            **self.env,
        }
        self._log = self.log_path.open("wb")
        app_class = "LabApp" if self.app == "jupyterlab" else "JupyterNotebookApp"
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", self.app,
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={notebooks}",
                f"--{app_class}.user_settings_dir={settings}",
                f"--{app_class}.workspaces_dir={self.root / 'workspaces'}",
                f"--{app_class}.expose_app_in_browser=True",
            ],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=notebooks,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                msg = f"{self.app} exited early (code {self.process.returncode}):\n"
                raise RuntimeError(msg + self.log_tail())
            try:
                if httpx.get(f"{self.url}api", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        msg = f"{self.app} did not answer within {timeout:.0f} s:\n{self.log_tail()}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def put_file(self, path: str, content: str | dict[str, Any]) -> None:
        """Write a file (text) or a notebook (its JSON as a dict) through the contents API,
        as the front end would; its folders first."""
        parts = path.split("/")
        headers = {"Authorization": f"token {self.token}"}
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            response = httpx.put(
                f"{self.url}api/contents/{folder}",
                json={"type": "directory"},
                headers=headers,
                timeout=10,
            )
            assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = (
            {"type": "notebook", "format": "json", "content": content}
            if isinstance(content, dict)
            else {"type": "file", "format": "text", "content": content}
        )
        response = httpx.put(
            f"{self.url}api/contents/{path}", json=body, headers=headers, timeout=10
        )
        assert response.status_code in (200, 201), response.text

    def delete_file(self, path: str) -> None:
        response = httpx.delete(
            f"{self.url}api/contents/{path}",
            headers={"Authorization": f"token {self.token}"},
            timeout=10,
        )
        assert response.status_code == 204, response.text

    def get_json(self, path: str) -> tuple[int, Any]:
        """GET `<base_url><path>` with the token; the status and the decoded body (or text)."""
        response = httpx.get(
            f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}, timeout=10
        )
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


def one_cell_notebook(source: str) -> dict[str, Any]:
    """A notebook with one code cell holding `source`."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [
            {
                "cell_type": "code",
                "id": "first",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
        ],
    }


def output_dir() -> Path:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR
