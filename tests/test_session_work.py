"""Using a session: files (contents API, chunked uploads), kernels (over the kernel websocket)
and notebooks (nbclient's semantics), sync and async, against a real `jupyter server` on
127.0.0.1 (the same server a Binder session runs)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import nbformat
import pytest
from servers import JupyterServer, start_jupyter_server

from binderfed_sdk import AsyncSession, Session
from binderfed_sdk._errors import ExecutionError, ExecutionTimeout, RemotePathError, SessionError
from binderfed_sdk.jupyter._cells import inject_parameters
from binderfed_sdk.jupyter._messages import execute_request
from binderfed_sdk.jupyter._paths import remote_path

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MIB = 1 << 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    root = tmp_path_factory.mktemp("session-root")
    running = start_jupyter_server(root, args=["--ServerApp.log_level=WARN"])
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def session(server: JupyterServer) -> Iterator[Session]:
    with Session(server.url, server.token) as made:
        yield made
        made.stopped = True  # the server is the module's: not shut down per test


def kernels(server: JupyterServer) -> list[dict[str, Any]]:
    answer = httpx.get(
        server.url + "api/kernels", headers={"Authorization": f"token {server.token}"}, timeout=5
    )
    listed: list[dict[str, Any]] = answer.json()
    return listed


# --- paths (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "a/../../b", "/etc/passwd", "a/..", "..", "a\\..\\b", "a\0b"]
)
def test_paths_leaving_the_root_are_refused(path: str) -> None:
    with pytest.raises(RemotePathError):
        remote_path(path)


def test_paths_are_normalised() -> None:
    assert remote_path("./a//b/./c.txt") == "a/b/c.txt"
    assert remote_path("") == ""


def test_a_dotdot_is_refused_before_any_request(server: JupyterServer, tmp_path: Path) -> None:
    sent: list[httpx.Request] = []
    client = httpx.Client(event_hooks={"request": [sent.append]})
    (tmp_path / "x.txt").write_text("x")
    with Session(server.url, server.token, client=client) as session:
        session.stopped = True
        for call in (
            lambda: session.upload(tmp_path / "x.txt", "../x.txt"),
            lambda: session.download("../../etc/passwd", tmp_path / "p"),
            lambda: session.listdir("a/../.."),
        ):
            with pytest.raises(RemotePathError):
                call()
    client.close()
    assert sent == []


# --- files ----------------------------------------------------------------------------------


def test_upload_list_and_download_round_trip(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "data" / "deep").mkdir(parents=True)
    (local / "data" / "table.csv").write_text("a,b\n1,2\n")
    (local / "data" / "deep" / "blob.bin").write_bytes(os.urandom(3 * MIB + 17))  # 4 chunks
    (local / "data" / "empty.txt").write_bytes(b"")
    (local / "data" / "link").symlink_to("/etc/passwd")  # never followed
    written = session.upload(local / "data", "work/data")
    assert sorted(written) == [
        "work/data/deep/blob.bin",
        "work/data/empty.txt",
        "work/data/table.csv",
    ]
    listing = {entry.name: entry for entry in session.listdir("work/data")}
    assert set(listing) == {"deep", "empty.txt", "table.csv"}
    assert listing["deep"].type == "directory"
    back = tmp_path / "back"
    files = session.download("work/data", back)
    assert len(files) == 3
    assert (back / "table.csv").read_text() == "a,b\n1,2\n"
    assert (back / "deep" / "blob.bin").read_bytes() == (
        local / "data" / "deep" / "blob.bin"
    ).read_bytes()
    assert (back / "empty.txt").read_bytes() == b""
    assert not (back / "link").exists()


def test_missing_files_are_clear_errors(session: Session, tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="no such file"):
        session.download("not-there.txt", tmp_path / "x")
    with pytest.raises(RemotePathError, match="no such file"):
        session.upload(tmp_path / "not-there", "x")
    with pytest.raises(SessionError, match="HTTP 404"):
        session.listdir("no-such-folder")


# --- kernels --------------------------------------------------------------------------------


def test_execute_returns_streams_results_and_display_data(
    session: Session, server: JupyterServer
) -> None:
    with session.kernel() as kernel:
        assert any(k["id"] == kernel.id for k in kernels(server))
        result = kernel.execute(
            "import sys\nprint('out'); print('err', file=sys.stderr)\n"
            "from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))\n6 * 7"
        )
        kernel_id = kernel.id
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.result == {"text/plain": "42"}
    assert result.display_data[0]["text/html"] == "<b>x</b>"
    assert result.execution_count == 1
    assert all(k["id"] != kernel_id for k in kernels(server))  # shut down on exit


def test_an_error_is_a_typed_execution_error(session: Session) -> None:
    with session.kernel() as kernel:
        kernel.execute("x = 1")
        with pytest.raises(ExecutionError) as raised:
            kernel.execute("def f():\n    raise ValueError('bad value')\nf()")
        assert kernel.execute("x + 1").result == {"text/plain": "2"}  # the kernel goes on
        allowed = kernel.execute("1/0", allow_errors=True)
    error = raised.value
    assert (error.ename, error.evalue) == ("ValueError", "bad value")
    assert any("raise ValueError('bad value')" in line for line in error.traceback)
    assert not any("\x1b[" in line for line in error.traceback)
    assert allowed.error is not None
    assert allowed.error["ename"] == "ZeroDivisionError"


def test_past_its_timeout_the_kernel_is_interrupted(session: Session) -> None:
    with session.kernel() as kernel:
        with pytest.raises(ExecutionTimeout) as raised:
            kernel.execute("import time\ntime.sleep(60)", timeout=2)
        assert raised.value.timeout == 2
        # interrupted, not stuck: the next execution runs at once
        assert kernel.execute("'still here'", timeout=10).result == {"text/plain": "'still here'"}


def test_the_async_twin(server: JupyterServer, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("async\n")

    async def scenario() -> tuple[str, list[str]]:
        async with AsyncSession(server.url, server.token) as session:
            session.stopped = True
            await session.upload(tmp_path / "in.txt", "async/in.txt")
            async with session.kernel() as kernel:
                result = await kernel.execute("print(open('async/in.txt').read().strip())")
                with pytest.raises(ExecutionError):
                    await kernel.execute("undefined_name")
            names = [entry.name for entry in await session.listdir("async")]
            await session.download("async/in.txt", tmp_path / "out.txt")
        return result.stdout, names

    assert asyncio.run(scenario()) == ("async\n", ["in.txt"])
    assert (tmp_path / "out.txt").read_text() == "async\n"


# --- notebooks ------------------------------------------------------------------------------


def notebook(*cells: Any) -> Any:
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = list(cells)
    return nb


def code(source: str, *tags: str) -> Any:
    return nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})  # type: ignore[no-untyped-call]


def test_parameters_are_injected_after_the_parameters_cell() -> None:
    nb = notebook(code("import os"), code("n = 1", "parameters"), code("print(n)"))
    injected = inject_parameters(nb, {"n": 5, "name": "x"})
    assert [c.source for c in injected.cells][:3] == [
        "import os",
        "n = 1",
        "# Parameters\nn = 5\nname = 'x'",
    ]
    assert injected.cells[2].metadata["tags"] == ["injected-parameters"]
    again = inject_parameters(injected, {"n": 6})  # replaces the earlier injection
    assert [c.source for c in again.cells].count("# Parameters\nn = 6") == 1
    assert len(again.cells) == 4


def test_run_a_notebook_in_the_session(session: Session, tmp_path: Path) -> None:
    nb = notebook(
        code("n = 1", "parameters"),
        code("with open('result.txt', 'w') as f:\n    f.write(str(n * 2))\nprint('wrote', n * 2)"),
        code("1/0", "raises-exception"),
        nbformat.v4.new_markdown_cell("text"),  # type: ignore[no-untyped-call]
        code("n + 100"),
    )
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]
    session.upload(path, "nb/analysis.ipynb")
    done = session.run_notebook("nb/analysis.ipynb", parameters={"n": 21}, timeout=30)
    outputs = [c.get("outputs") for c in done.cells]
    assert outputs[2][0]["text"] == "wrote 42\n"
    assert outputs[3][0]["ename"] == "ZeroDivisionError"  # expected: the run went on
    assert outputs[5][0]["data"]["text/plain"] == "121"
    assert [c.get("execution_count") for c in done.cells if c.cell_type == "code"] == [
        1,
        2,
        3,
        4,
        5,
    ]
    nbformat.validate(done)
    # the kernel ran in the notebook's folder
    session.download("nb/result.txt", tmp_path / "result.txt")
    assert (tmp_path / "result.txt").read_text() == "42"


def test_an_error_cell_stops_the_run_with_its_index(session: Session) -> None:
    nb = notebook(code("a = 1"), code("raise KeyError('missing')"), code("print('never')"))
    with pytest.raises(ExecutionError) as raised:
        session.run_notebook(nb, timeout=30)
    error = raised.value
    assert error.cell == 1
    assert error.ename == "KeyError"
    assert error.source == "raise KeyError('missing')"
    assert error.notebook.cells[2].outputs == []


def test_a_cell_past_its_timeout_is_interrupted(session: Session, server: JupyterServer) -> None:
    before = {k["id"] for k in kernels(server)}
    nb = notebook(code("x = 1"), code("import time\ntime.sleep(60)"))
    with pytest.raises(ExecutionTimeout) as raised:
        session.run_notebook(nb, timeout=2)
    assert raised.value.cell == 1
    assert {k["id"] for k in kernels(server)} == before  # its kernel was shut down


def test_closing_never_hangs_on_unread_output(session: Session, server: JupyterServer) -> None:
    """Output nobody reads fills the websocket reader's queue (512 messages); closing the
    kernel must still return (the reader, blocked on its full queue, is freed)."""
    kernel = session.kernel().start()
    kernel_id = kernel.id
    # sent, never read: 2,000 flushed prints are far more than the reader's queue holds
    kernel._send(
        "execute_request", execute_request("for i in range(2000): print(i, flush=True)"), "shell"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the kernel has printed it all
        state = next(k for k in kernels(server) if k["id"] == kernel_id)["execution_state"]
        if state == "idle":
            break
        time.sleep(0.2)
    closing = threading.Thread(target=kernel.shutdown, daemon=True)
    closing.start()
    closing.join(30)
    assert not closing.is_alive(), "closing the kernel hung"
    assert all(k["id"] != kernel_id for k in kernels(server))
