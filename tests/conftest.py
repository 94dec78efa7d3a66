"""Shared fixtures: real servers on 127.0.0.1 (a BinderHub-speaking WireHub, a Jupyter server)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from wirehub import WireHub

from binderfed_sdk import RetryPolicy, StreamLimits

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# fast but real: short keepalives so stream tests do not wait 25 s
FAST_LIMITS = StreamLimits(idle_timeout=2.0, total_timeout=10.0)
FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)


@pytest.fixture
def wirehub() -> Iterator[WireHub]:
    with WireHub(keepalive_interval=0.05, hold_open=60.0) as hub:
        yield hub


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
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_jupyter_server(root: Path, token: str | None = None) -> JupyterServer:
    token = token or secrets.token_urlsafe(16)
    port = free_port()
    log = (root / "jupyter-server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        ],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )  # fmt: skip
    server = JupyterServer(f"http://127.0.0.1:{port}/", token, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            output = (root / "jupyter-server.log").read_text(errors="replace")
            msg = f"jupyter server exited early:\n{output[-2000:]}"
            raise RuntimeError(msg)
        try:
            if httpx.get(server.url + "api", timeout=1).status_code == 200:
                log.close()
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    log.close()
    msg = "jupyter server did not answer within 60 s"
    raise RuntimeError(msg)


@pytest.fixture
def jupyter_server(tmp_path: Path) -> Iterator[JupyterServer]:
    server = start_jupyter_server(tmp_path)
    try:
        yield server
    finally:
        server.stop()
