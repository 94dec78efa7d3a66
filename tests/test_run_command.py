"""`binderfed run` against the real sandbox (real JupyterHub, culler, our build service): a
repository is launched, files and a notebook uploaded, the notebook run with a parameter, the
executed notebook and a produced file downloaded, and the session always shut down."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import psutil
import pytest
from servers import active_servers, running_sandbox

from binderfed_sdk.cli._main import main as cli_main
from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(members=2, idle_timeout=600, max_age=3600)
    with running_sandbox(tmp_path_factory.mktemp("run-sandbox"), settings) as state:
        manager.make_repository(
            Path(state.repos_dir) / "tests" / "runnable",
            files={
                "requirements.txt": "httpx\n",
                "helper.py": "def double(x):\n    return 2 * x\n",
            },
        )
        yield state


SPEC = "gh/tests/runnable/HEAD"


def cells(*sources: tuple[str, list[str]]) -> Any:
    nb: Any = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(source, metadata={"tags": tags})  # type: ignore[no-untyped-call]
        for source, tags in sources
    ]
    return nb


def write(nb: Any, path: Path) -> Path:
    nbformat.write(nb, str(path))  # type: ignore[no-untyped-call]
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_run_uploads_runs_with_a_parameter_and_downloads(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    data = tmp_path / "numbers.csv"
    data.write_text("3\n4\n")
    nb = write(
        cells(
            ("factor = 1", ["parameters"]),
            ("from helper import double\nvalues = [int(v) for v in open('numbers.csv')]", []),
            ("total = double(sum(values)) * factor\nopen('total.txt', 'w').write(str(total))", []),
            ("print('total', total)", []),
        ),
        tmp_path / "analysis.ipynb",
    )
    out = tmp_path / "out"
    code, stdout, stderr = run(
        "run", SPEC, str(nb), "--federation", "sandbox", "--upload", str(data),
        "--download", "total.txt", "-p", "factor=10", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads(stdout)
    [result] = report["results"]
    assert result["ok"] is True
    assert result["member"] in {m.name for m in sandbox.members}
    assert result["build_seconds"] > 0
    assert result["run_seconds"] > 0
    assert (out / "total.txt").read_text() == "140"  # double(3 + 4) * 10
    executed = nbformat.read(out / "analysis.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    assert executed.cells[1].metadata["tags"] == ["injected-parameters"]
    assert executed.cells[-1].outputs[0]["text"] == "total 140\n"
    assert result["memory"]  # the session's extension reported it at the end
    assert active_servers(sandbox) == []


def test_an_error_cell_exits_1_with_the_cell_and_traceback(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    nb = write(
        cells(("x = 1", []), ("raise RuntimeError('broken on purpose')", []), ("print(x)", [])),
        tmp_path / "broken.ipynb",
    )
    out = tmp_path / "out"
    code, stdout, stderr = run("run", SPEC, str(nb), "--federation", "sandbox", "--out", str(out))
    assert code == 1, stderr
    assert "cell 1: RuntimeError: broken on purpose" in stdout
    executed = nbformat.read(out / "broken.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    traceback = executed.cells[1].outputs[0]["traceback"]
    assert any("broken on purpose" in line for line in traceback)
    assert executed.cells[2].outputs == []  # the run stopped there
    assert active_servers(sandbox) == []


def test_a_cell_past_its_timeout_is_interrupted(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    nb = write(cells(("import time\ntime.sleep(120)", [])), tmp_path / "slow.ipynb")
    started = time.monotonic()
    code, stdout, _ = run(
        "run", SPEC, str(nb), "--federation", "sandbox", "--timeout", "3",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 1
    assert "ran past its timeout of 3 s" in stdout
    assert time.monotonic() - started < 60
    assert active_servers(sandbox) == []


def test_on_each_member(sandbox: manager.SandboxState, tmp_path: Path) -> None:
    nb = write(
        cells(("import os\nprint(os.environ['BINDERFED_MEMBER'])", [])), tmp_path / "m.ipynb"
    )
    out = tmp_path / "out"
    code, stdout, stderr = run(
        "run", SPEC, str(nb), "--federation", "sandbox", "--on-each-member", "--out", str(out),
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    results = json.loads(stdout)["results"]
    members = sorted(m.name for m in sandbox.members)
    assert sorted(r["member"] for r in results) == members
    for name in members:  # each ran on its own member, results kept apart
        executed = nbformat.read(out / name / "m.ipynb", as_version=4)  # type: ignore[no-untyped-call]
        assert executed.cells[0].outputs[0]["text"] == f"{name}\n"
    assert active_servers(sandbox) == []


def test_ctrl_c_leaves_no_session_and_no_kernel(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    nb = write(cells(("import time\ntime.sleep(300)", [])), tmp_path / "long.ipynb")
    env = {**os.environ, manager.ENV_DIR: sandbox.dir}
    process = subprocess.Popen(
        [sys.executable, "-m", "binderfed_sdk", "run", SPEC, str(nb),
         "--federation", "sandbox", "--out", str(tmp_path / "out")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    kernels: list[psutil.Process] = []
    try:
        # wait until the notebook's kernel runs: a kernel process under a session's server
        deadline = time.monotonic() + 120
        while not kernels and time.monotonic() < deadline and process.poll() is None:
            for member in sandbox.members:
                hub = psutil.Process(member.hub.pid)
                kernels += [
                    child
                    for child in hub.children(recursive=True)
                    if "ipykernel_launcher" in " ".join(child.cmdline())
                ]
            time.sleep(0.2)
        assert kernels, "no kernel started"
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert code == 130
    _, alive = psutil.wait_procs(kernels, timeout=30)
    assert alive == []
    assert active_servers(sandbox) == []
