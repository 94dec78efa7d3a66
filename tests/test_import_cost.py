"""What an import loads, each in a fresh interpreter: the in-session reader runs inside every
Binder session's kernel and must not load the HTTP client (bench/import_time.py times it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

HTTP = ("httpx", "httpx_sse", "tornado")


def loaded_after(code: str, env: dict[str, str]) -> dict[str, object]:
    """Run `code` in a new interpreter; which of the watched modules it loaded, and `result`."""
    script = f"""
import json, sys
result = None
{code}
watched = {(*HTTP, "binderfed_sdk.hub", "binderfed_sdk.sandbox", "pydantic")!r}
print(json.dumps({{"loaded": [m for m in watched if m in sys.modules], "result": result}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without a Binder session or a Jupyter server in it."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BINDER", "JPY_", "JUPYTER", "BINDERFED"))
    }
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    return env


def test_bare_import_loads_nothing_heavy(clean_env: dict[str, str]) -> None:
    answer = loaded_after("import binderfed_sdk, binderfed_sdk.insession", clean_env)
    assert answer["loaded"] == []


def test_reader_outside_binder_loads_no_http_client(clean_env: dict[str, str]) -> None:
    answer = loaded_after(
        "from binderfed_sdk import read_session_info\nresult = read_session_info().in_binder",
        clean_env,
    )
    assert answer["result"] is False
    assert answer["loaded"] == ["pydantic"]


class _Status(BaseHTTPRequestHandler):
    """A Jupyter server's `api/status`, as the kernel's parent server answers it."""

    def do_GET(self) -> None:
        if self.path != "/user/x/api/status" or self.headers["Authorization"] != "token t0k":
            self.send_error(403)
            return
        body = json.dumps(
            {
                "started": "2026-01-01T10:00:00.000000Z",
                "last_activity": "2026-01-01T10:05:00.000000Z",
                "kernels": 1,
                "connections": 0,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture
def jupyter_status() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/user/x/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_reader_in_a_kernel_asks_its_server_without_httpx(
    clean_env: dict[str, str], jupyter_status: str
) -> None:
    # a kernel of a Binder session: BINDER_* set, its parent server's runtime file on disk
    parent = 4242
    runtime = Path(clean_env["JUPYTER_RUNTIME_DIR"])
    record = {"url": jupyter_status, "token": "t0k", "pid": parent}
    (runtime / f"jpserver-{parent}.json").write_text(json.dumps(record))
    env = {
        **clean_env,
        "JPY_PARENT_PID": str(parent),
        "BINDER_LAUNCH_HOST": "https://mybinder.org/",
        "BINDER_REPO_URL": "https://github.com/binder-examples/requirements",
    }
    answer = loaded_after(
        "from binderfed_sdk import read_session_info\n"
        "info = read_session_info()\n"
        "result = [info.in_binder, info.started.isoformat(), info.last_activity.isoformat()]",
        env,
    )
    assert answer["result"] == [True, "2026-01-01T10:00:00+00:00", "2026-01-01T10:05:00+00:00"]
    assert answer["loaded"] == ["pydantic"]


def test_hub_client_loads_neither_the_sandbox_nor_tornado(clean_env: dict[str, str]) -> None:
    answer = loaded_after("from binderfed_sdk import BinderHub", clean_env)
    assert answer["loaded"] == ["httpx", "httpx_sse", "binderfed_sdk.hub", "pydantic"]
