"""The sandbox's JupyterHub spawner: a JupyterLab from a built environment, as BinderHub runs it.

BinderHub runs its hub with authentication off: the server it launches is a plain Jupyter
server protected by the token that the build stream's `ready` event carries (BinderSpawner
passes it as `--ServerApp.token`). This spawner does the same with a local process: the
environment the build service made (a virtual environment over this Python's packages), the
repository checkout as the working directory, and the session environment of a Binder pod
(`BINDER_*`, `MEM_LIMIT`, `CPU_LIMIT`, `JUPYTER_IMAGE_SPEC`) plus the member's name.

The hub keeps `user_options` in its database, so the token is not among them: the build
service writes it to a 0600 file and passes the file's path (`token_file`), which this
spawner reads and removes at start. A repository's `start` script (`start`, relative to the
checkout) runs as repo2docker's entrypoint runs it: with the server's command as its
arguments (`start python -m jupyterlab ...`), so it can set up the environment and `exec "$@"`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner

__all__ = ["SandboxSpawner"]

# what the build service may pass through `user_options`, and nothing else
_BINDER_KEYS = (
    "BINDER_REPO_URL",
    "BINDER_REF_URL",
    "BINDER_LAUNCH_HOST",
    "BINDER_REQUEST",
    "BINDER_PERSISTENT_REQUEST",
    "BINDER_CLIENT_IP",
    "JUPYTER_IMAGE_SPEC",
    "BINDERFED_MEMBER",
    "BINDERFED_FEDERATION",
)


class SandboxSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]  # untyped base
    """Starts `python -m jupyterlab` from the environment named in `user_options`."""

    def _option(self, key: str) -> str:
        value = self.user_options.get(key)
        if not isinstance(value, str) or not value:
            msg = f"the build service must pass {key!r} in user_options"
            raise ValueError(msg)
        return value

    _token: str | None = None

    @property
    def env_dir(self) -> Path:
        return Path(self._option("env_dir"))

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        extra = self.user_options.get("env") or {}
        env.update({k: str(v) for k, v in extra.items() if k in _BINDER_KEYS})
        # the session's environment has a prefix of its own: point Jupyter at the prefix of
        # the environment it is layered over (the hub's), for JupyterLab's assets, the
        # labextensions and the server-extension config
        base = Path(sys.prefix)
        env["JUPYTERLAB_DIR"] = str(base / "share" / "jupyter" / "lab")
        env["JUPYTER_PATH"] = str(base / "share" / "jupyter")
        env["JUPYTER_CONFIG_PATH"] = str(base / "etc" / "jupyter")
        env["PATH"] = f"{self.env_dir / 'bin'}:{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.env_dir)
        # the checkout is the home, as in a Binder image (repo2docker's REPO_DIR)
        env["REPO_DIR"] = self._option("workdir")
        # the launch token goes in the environment, not the command line the hub logs
        if self._token is None:
            msg = "the session token was not read (start() reads it from token_file)"
            raise RuntimeError(msg)
        env["JUPYTER_TOKEN"] = self._token
        return env

    def get_args(self) -> list[str]:
        # BinderHub with auth disabled: a plain server, guarded by the launch token
        return [
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            f"--ServerApp.base_url={self.server.base_url}",
            f"--ServerApp.root_dir={self._option('workdir')}",
            "--ServerApp.allow_root=True",
            "--ServerApp.trust_xheaders=True",
            # as on mybinder.org: the server and its kernels stop themselves when idle
            f"--ServerApp.shutdown_no_activity_timeout={int(self.user_options.get('idle', 600))}",
            f"--MappingKernelManager.cull_idle_timeout={int(self.user_options.get('idle', 600))}",
            "--MappingKernelManager.cull_interval=60",
        ]

    def _read_token(self) -> str:
        """The token from the build service's file, which is removed once read."""
        path = Path(self._option("token_file"))
        try:
            token = path.read_text().strip()
        except OSError:
            msg = "the session's token file is missing: launch it again through the build service"
            raise RuntimeError(msg) from None
        finally:
            path.unlink(missing_ok=True)
        if not token:
            msg = "the session's token file is empty"
            raise RuntimeError(msg)
        return token

    def _entrypoint(self) -> list[str]:
        """The repository's `start`, as repo2docker's entrypoint runs it (`$R2D_ENTRYPOINT`
        before the command); empty without one."""
        start = self.user_options.get("start")
        if not isinstance(start, str) or not start:
            return []
        workdir = Path(self._option("workdir")).resolve()
        script = (workdir / start).resolve()
        if not script.is_relative_to(workdir) or not script.is_file():
            msg = f"the repository's start script {start!r} is not in its checkout"
            raise ValueError(msg)
        with script.open("rb") as file:
            shebang = file.read(2) == b"#!"
        if shebang and os.access(script, os.X_OK):
            return [str(script)]
        return ["bash", str(script)]

    async def start(self) -> Any:
        self._token = self._read_token()
        # the build service's environment, whatever the hub's default command is
        self.cmd = [*self._entrypoint(), str(self.env_dir / "bin" / "python")]
        # the checkout is the home and working directory, as in a Binder image
        self.home_dir = self._option("workdir")
        address = await super().start()
        await self._listening(*address)
        return address

    async def _listening(self, ip: str, port: int) -> None:
        """Return once the server accepts connections (or its process died).

        The hub checks a new server with exponential backoff (0.2 s doubling to 5 s), which
        can add seconds after the server is up; a server already listening passes its first
        check at once.
        """
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                _, writer = await asyncio.open_connection(ip, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return
