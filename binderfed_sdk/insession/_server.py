"""The Jupyter server this process runs under: its record and its `api/status`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binderfed_sdk import _json

if TYPE_CHECKING:
    from collections.abc import Mapping

#: where a status dict carries the kernels (the `api/kernels` list), beside `api/status`
KERNELS_KEY = "kernel_activity"
#: asked with this, jupyter_server does not count a request as activity
NO_TRACK = "no_track_activity=1"
#: the largest answer read from the server (`api/kernels` of many kernels fits easily)
MAX_ANSWER = _json.MAX_JSON_BYTES

# --- the Jupyter server's own record ---------------------------------------------------------


class JupyterServerStatus:
    """Fetches `api/status` of the Jupyter server at `url`, or of the one this process runs
    under (see `find_parent_server`). Calling it returns the status dict, or None when there
    is no server to ask or it does not answer."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        runtime_dir: str | Path | None = None,
        timeout: float = 2.0,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._runtime_dir = runtime_dir
        self.url = url
        self.token = token
        self.timeout = timeout
        self._found = url is not None

    def _discover(self) -> None:
        self._found = True
        info = find_parent_server(self._environ, self._runtime_dir)
        if info is None:
            return
        url = info.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            self.url = url if url.endswith("/") else url + "/"
            if self.token is None:
                token = info.get("token")
                self.token = token if isinstance(token, str) and token else None
        if self.token is None:
            self.token = self._environ.get("JUPYTERHUB_API_TOKEN") or None

    def get(self, path: str) -> Any:
        """GET `<server url><path>` with the token; the JSON answer, or None."""
        if not self._found:
            self._discover()
        if self.url is None:
            return None
        if not self.url.startswith(("http://", "https://")):
            return None
        # the standard library's client, imported only when a server is asked: this runs in
        # every Binder session's kernel, which has no use for httpx (~50 ms to import)
        import http.client  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        try:
            request = urllib.request.Request(self.url + path, headers=headers)  # noqa: S310 - http(s) only
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read(MAX_ANSWER + 1)
            if len(body) > MAX_ANSWER:
                return None
            return _json.loads(body)
        except (OSError, ValueError, http.client.HTTPException):
            # refused, an HTTP error status (HTTPError), a timeout, not JSON, nested too deep
            return None

    def __call__(self) -> Mapping[str, Any] | None:
        """`api/status`, with the kernels (`api/kernels`) under `kernel_activity`. Neither
        counts as activity (`api/status` never does; `api/kernels` is asked not to)."""
        answer = self.get("api/status")
        if not isinstance(answer, dict):
            return None
        kernels = self.get("api/kernels?" + NO_TRACK)
        if isinstance(kernels, list):
            answer[KERNELS_KEY] = kernels
        return answer


def find_parent_server(
    environ: Mapping[str, str], runtime_dir: str | Path | None = None
) -> dict[str, Any] | None:
    """The runtime file (`jpserver-<pid>.json`: url, token, ...) of the Jupyter server this
    process runs under: a kernel's parent (`JPY_PARENT_PID`); else, from a terminal, the
    server at `JUPYTER_SERVER_URL`, or the only live server in the runtime folder."""
    folder = runtime_dir or environ.get("JUPYTER_RUNTIME_DIR")
    if not folder:
        try:
            from jupyter_core.paths import jupyter_runtime_dir  # noqa: PLC0415
        except ImportError:
            return None
        folder = jupyter_runtime_dir()
    pid = environ.get("JPY_PARENT_PID", "")
    if pid.isascii() and pid.isdigit():
        return _server_file(Path(folder) / f"jpserver-{pid}.json")
    servers = [
        info
        for path in _runtime_files(Path(folder))
        if (info := _server_file(path)) is not None and _alive(info.get("pid"))
    ]
    wanted = environ.get("JUPYTER_SERVER_URL", "").rstrip("/")
    if wanted:
        return next((i for i in servers if str(i.get("url", "")).rstrip("/") == wanted), None)
    return servers[0] if len(servers) == 1 else None


def _runtime_files(folder: Path) -> list[Path]:
    try:
        return sorted(folder.glob("jpserver-*.json"))
    except (OSError, ValueError):  # unreadable, or a NUL in the name
        return []


def _server_file(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("rb") as file:
            info = _json.loads(file.read(MAX_ANSWER))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:
        return True
    except (OSError, OverflowError):  # no such process, or no PID at all
        return False
    return True
