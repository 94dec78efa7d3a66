"""Real local servers for tests and benchmarks: a `jupyter server` process on 127.0.0.1,
started and stopped by PID (the BinderHub-speaking server is `wirehub.py`)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from binderfed_sdk.sandbox.manager import SandboxState


#: the environment of a mybinder.org session on the gesis member (BinderHub's variables, the
#: KubeSpawner's image spec, JupyterHub's limits), for tests and benchmarks of SessionInfo
SESSION_ENV = {
    "BINDER_REPO_URL": "https://github.com/binder-examples/requirements",
    "BINDER_REF_URL": "https://github.com/binder-examples/requirements/tree/4f1ab2c",
    "BINDER_LAUNCH_HOST": "https://mybinder.org/",
    "BINDER_REQUEST": "v2/gh/binder-examples/requirements/HEAD",
    "BINDER_PERSISTENT_REQUEST": "v2/gh/binder-examples/requirements/4f1ab2c",
    "JUPYTER_IMAGE_SPEC": "registry.gesis.mybinder.org/binder-prod/r2d-g5b5b759:4f1ab2c",
    "MEM_LIMIT": str(2 << 30),
    "MEM_GUARANTEE": str(450 << 20),
    "CPU_LIMIT": "1.0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class JupyterServer:
    """A real `jupyter server` process on 127.0.0.1, stopped by PID."""

    url: str
    token: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)


def start_jupyter_server(
    root: Path,
    token: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    ready_path: str = "api",
    timeout: float = 90.0,
) -> JupyterServer:
    """Start a server on a free port; return once `ready_path` answers 200 (with the token)."""
    token = token or secrets.token_urlsafe(16)
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "jupyter-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", *args,
        ],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1", **(env or {})},
    )  # fmt: skip
    server = JupyterServer(f"http://127.0.0.1:{port}/", token, process)
    headers = {"Authorization": f"token {token}"}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log_path.read_text(errors="replace")
                msg = f"jupyter server exited early:\n{output[-2000:]}"
                raise RuntimeError(msg)
            try:
                answer = httpx.get(server.url + ready_path, headers=headers, timeout=2)
                if answer.status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        server.stop()
        msg = f"jupyter server did not answer within {timeout:g} s"
        raise RuntimeError(msg)
    finally:
        log.close()


@contextlib.contextmanager
def running_sandbox(folder: Path, settings: manager.SandboxSettings) -> Iterator[SandboxState]:
    """A sandbox federation with its own state folder, stopped (by PID) on exit."""
    previous = os.environ.get(manager.ENV_DIR)
    os.environ[manager.ENV_DIR] = str(folder)
    try:
        yield manager.up(settings)
    finally:
        if manager.state_path().is_file():
            manager.down()
        if previous is None:
            os.environ.pop(manager.ENV_DIR, None)
        else:
            os.environ[manager.ENV_DIR] = previous


def sandbox_hub_api(state: SandboxState, member: str, *, timeout: float = 5.0) -> httpx.Client:
    """A client of one sandbox member's JupyterHub REST API, with the build service's token."""
    config = json.loads((Path(state.dir) / member / "builder.json").read_text())
    return httpx.Client(
        base_url=config["hub_api_url"],
        headers={"Authorization": f"token {config['hub_token']}"},
        timeout=timeout,
    )


def active_servers(state: SandboxState, wait: float = 20.0) -> list[str]:
    """`member/user` for every server a sandbox's hubs list as running. A server that stopped
    itself (`api/shutdown`) is noticed by its hub at the next poll (every 5 s in the sandbox):
    up to `wait` seconds are given for the list to empty."""
    deadline = time.monotonic() + wait
    while True:
        names = []
        for member in state.members:
            with sandbox_hub_api(state, member.name) as api:
                users = api.get("users", params={"state": "active"}).json()
                names += [f"{member.name}/{u['name']}" for u in users if u.get("servers")]
        if not names or time.monotonic() >= deadline:
            return names
        time.sleep(0.25)
