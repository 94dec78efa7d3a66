"""The scripts and the notebook of `examples/`, run as a user runs them, against local servers.

The scripts run as processes (`python examples/x.py ...`). `launch_and_stop.py` takes its hub
as an argument, so it gets a local WireHub whose launches land on a real `jupyter server`
(there is no internet here). The notebook runs in a real kernel through nbclient, as
`jupyter nbconvert --execute` would, once in a mybinder.org-like session environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbclient import NotebookClient
from servers import SESSION_ENV, free_port
from wirehub import WireHub

if TYPE_CHECKING:
    import pytest
    from servers import JupyterServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPEC = "gh/binder-examples/requirements/HEAD"


def run_example(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=EXAMPLES,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_every_example_is_run_here() -> None:
    """A new example needs its test: this file names every script and notebook."""
    source = Path(__file__).read_text()
    for path in sorted(EXAMPLES.glob("*.py")) + sorted(EXAMPLES.glob("*.ipynb")):
        assert f'"{path.name}"' in source, f"examples/{path.name} is not run by a test"


def test_launch_and_stop(jupyter_server: JupyterServer) -> None:
    with WireHub(keepalive_interval=0.05) as hub:
        hub.jupyter_url, hub.jupyter_token = jupyter_server.url, jupyter_server.token
        result = run_example("launch_and_stop.py", SPEC, hub.url)
    assert result.returncode == 0, result.stderr
    assert f"share it: {hub.url}v2/{SPEC}" in result.stdout
    assert "  [ready] " in result.stdout  # the live log
    assert f"session {jupyter_server.url} started " in result.stdout
    assert "kernels 0, connections 0" in result.stdout
    assert jupyter_server.token not in result.stdout + result.stderr
    assert jupyter_server.process.wait(30) == 0  # it shut the session down


def test_launch_and_stop_failures(wirehub: WireHub) -> None:
    result = run_example("launch_and_stop.py", "gh/someone/failed-build/HEAD", wirehub.url)
    assert result.returncode == 1
    assert result.stderr.startswith("build failed: ")
    result = run_example("launch_and_stop.py", SPEC, f"http://127.0.0.1:{free_port()}/")
    assert result.returncode == 3  # after the client's bounded retries, which it reports
    assert result.stderr.splitlines()[-1].startswith("error: build: cannot reach the hub")
    assert "Traceback" not in result.stderr


def test_session_limits() -> None:
    outside = dict.fromkeys(SESSION_ENV, "")  # in case the suite runs inside a Binder
    result = run_example("session_limits.py", env=outside)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Not in a Binder session: ")
    assert "memory: " in result.stdout
    result = run_example("session_limits.py", env=SESSION_ENV)
    assert result.returncode == 0, result.stderr
    assert "member:      hetzner-gesis (image-registry)" in result.stdout
    assert "relaunch:    https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c" in (
        result.stdout
    )
    assert " / 2.0 GiB [" in result.stdout  # memory as everywhere: binderfed_sdk._format
    result = run_example("session_limits.py", "--json", env=SESSION_ENV)
    data = json.loads(result.stdout)
    assert (data["in_binder"], data["member"], data["memory_limit"]) == (
        True,
        "hetzner-gesis",
        2 << 30,
    )


def test_session_status_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel inherits this environment: a mybinder.org session on the gesis member."""
    for name, value in SESSION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BINDERFED_FEDERATION", raising=False)
    path = EXAMPLES / "session_status.ipynb"
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # untyped
    client = NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [len(cell.outputs) for cell in code] == [1, 1]
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    widget = code[0].outputs[0]
    assert widget.output_type == "execute_result"
    assert "application/vnd.jupyter.widget-view+json" in widget.data
    printed = code[1].outputs[0].text
    assert "in_binder              True" in printed
    assert "member                 hetzner-gesis" in printed
