"""SessionStatus, the notebook widget: its state under a Binder-like environment (cgroup files
written for real into tmp_path), warning styles past the thresholds, outside Binder, the
background refresher (stopped by close, paused while no cell runs)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


from binderfed_sdk.widget import SessionStatus

MIB = 1 << 20
BINDER_ENV = {
    "BINDER_REPO_URL": "https://github.com/binder-examples/requirements",
    "BINDER_LAUNCH_HOST": "https://mybinder.org/",
    "BINDER_PERSISTENT_REQUEST": "v2/gh/binder-examples/requirements/4f1ab2c9d0e1",
    "BINDERFED_MEMBER": "bids-ovh",
}


def write_memory(folder: Path, used: int, limit: int) -> None:
    (folder / "memory.current").write_text(f"{used}\n")
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.stat").write_text("anon 0\ninactive_file 0\n")
    (folder / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 500000\n")


def make_reader(
    folder: Path,
    *,
    used: int,
    limit: int = 1024 * MIB,
    idle_for: float = 0.0,
    environ: dict[str, str] | None = None,
    **options: Any,
) -> SessionInfoReader:
    write_memory(folder, used, limit)
    now = datetime.now(UTC)
    status = {
        "started": (now - timedelta(hours=2)).isoformat(),
        "last_activity": (now - timedelta(seconds=idle_for)).isoformat(),
    }
    return SessionInfoReader(
        environ=BINDER_ENV if environ is None else environ,
        cgroup_root=folder,
        proc_cgroup="",
        status=status,
        **options,
    )


@pytest.fixture
def make_widget() -> Iterator[Callable[..., SessionStatus]]:
    made: list[SessionStatus] = []

    def make(reader: Any, **options: Any) -> SessionStatus:
        options.setdefault("auto_refresh", False)
        widget = SessionStatus(reader, **options)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.close()


def test_importing_the_sdk_does_not_import_ipywidgets() -> None:
    code = (
        "import sys, binderfed_sdk, binderfed_sdk.insession, binderfed_jupyter; "
        "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_state_in_binder(tmp_path: Path, make_widget: Callable[..., SessionStatus]) -> None:
    widget = make_widget(make_reader(tmp_path, used=256 * MIB, idle_for=60))
    state = widget.get_state()
    assert state["_model_name"] == "VBoxModel"
    assert len(state["children"]) == 4
    header, time_row, memory_row, note = widget.children
    assert header is widget.header
    assert "bids-ovh" in header.value
    assert "relaunch this commit" in header.value
    assert "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c9d0e1" in header.value

    label, bar, text = time_row.children
    assert "Time left" in label.value
    assert bar.get_state()["_model_name"] == "FloatProgressModel"
    assert bar.max == 600.0  # the idle timeout: idle is the nearest stop
    assert bar.value == pytest.approx(540.0, abs=5)
    assert bar.bar_style == ""
    # 540 s left at the reading, less the moments since: rounded down, never more time
    assert re.match(r"(9 min|8 min 5\d s) if nothing runs \(stops from \d\d:\d\d UTC", text.value)
    # the hub's culler: checks every 660 s and learns of activity every 300 s
    assert "up to 16 min later" in text.value

    assert memory_row.children[1].max == 1024 * MIB
    assert memory_row.children[1].value == 256 * MIB
    assert memory_row.children[1].bar_style == ""
    assert memory_row.children[2].value == "256 MiB / 1.0 GiB"  # IEC units, as everywhere
    assert note.value == ""
    assert widget.info is not None
    assert widget.info.member == "bids-ovh"
    assert widget.refreshes == 1


@pytest.mark.parametrize(
    ("case", "memory_style", "time_style"),
    [
        # (memory used, idle timeout, idle for)
        ((700 * MIB, 600, 60), "", ""),  # 68 %; 9 min left of a 10 min idle timeout
        ((850 * MIB, 3600, 3100), "warning", "warning"),  # 83 %; 8 min 20 s left
        ((1000 * MIB, 3600, 3550), "danger", "danger"),  # 98 %; 50 s left
        ((100 * MIB, 600, 500), "", "danger"),  # 100 s before mybinder.org's idle cull
    ],
)
def test_warning_styles(
    tmp_path: Path,
    make_widget: Callable[..., SessionStatus],
    case: tuple[int, float, float],
    memory_style: str,
    time_style: str,
) -> None:
    used, idle_timeout, idle_for = case
    reader = make_reader(
        tmp_path,
        used=used,
        idle_for=idle_for,
        # the hub's culler and the server's own shutdown on the same clock
        limits={"idle_timeout": idle_timeout, "server_idle_timeout": idle_timeout},
    )
    widget = make_widget(reader)
    assert widget.memory_bar.bar_style == memory_style
    assert widget.time_bar.bar_style == time_style
    warned = memory_style or time_style
    assert ("⚠" in widget.note.value) == bool(warned)
    if memory_style:
        assert "memory is close to the limit" in widget.note.value
    if time_style:
        assert "save your work" in widget.note.value


def test_outside_binder(tmp_path: Path, make_widget: Callable[..., SessionStatus]) -> None:
    widget = make_widget(make_reader(tmp_path, used=300 * MIB, environ={}))
    assert widget.header.value.startswith("Not in a Binder session")
    assert widget.time_row.layout.display == "none"
    assert widget.memory_row.layout.display is None
    assert widget.memory_text.value == "300 MiB / 1.0 GiB"  # the cgroup's own limit


def test_refresh_on_demand(tmp_path: Path, make_widget: Callable[..., SessionStatus]) -> None:
    widget = make_widget(make_reader(tmp_path, used=100 * MIB))
    assert widget.memory_bar.bar_style == ""
    write_memory(tmp_path, 900 * MIB, 1024 * MIB)
    info = widget.refresh()
    assert isinstance(info, SessionInfo)
    assert info.memory_used == 900 * MIB
    assert widget.memory_bar.bar_style == "warning"
    assert widget.refreshes == 2


def test_a_failing_reader_is_shown_not_raised(make_widget: Callable[..., SessionStatus]) -> None:
    def broken() -> SessionInfo:
        msg = "no such server"
        raise ConnectionError(msg)

    widget = make_widget(broken)
    assert widget.info is None
    assert widget.error == "ConnectionError: no such server"
    assert "could not read" in widget.note.value


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_close_stops_the_refresher(tmp_path: Path) -> None:
    widget = SessionStatus(make_reader(tmp_path, used=100 * MIB), interval=0.02)
    try:
        wait_for(lambda: widget.running and widget.refreshes >= 4)
    finally:
        widget.close()
    assert not widget.running
    count = widget.refreshes
    time.sleep(0.1)
    assert widget.refreshes == count
    assert widget.comm is None  # closed on the front end's side too


def test_refresher_ends_by_itself(tmp_path: Path) -> None:
    widget = SessionStatus(make_reader(tmp_path, used=100 * MIB), interval=0.01, run_for=0.1)
    try:
        wait_for(lambda: not widget.running)
        assert widget.refreshes >= 2
    finally:
        widget.close()


@pytest.fixture
def shell() -> Iterator[Any]:
    """A real IPython shell, as in a kernel (cell runs fire pre/post_run_cell)."""
    from IPython.core import interactiveshell as interactive  # noqa: PLC0415

    shell = interactive.InteractiveShell.instance()
    try:
        yield shell
    finally:
        interactive.InteractiveShell.clear_instance()


def test_updates_pause_while_no_cell_runs(tmp_path: Path, shell: Any) -> None:
    widget = SessionStatus(make_reader(tmp_path, used=100 * MIB), interval=0.02, idle_grace=0.2)
    try:
        shell.run_cell("x = 1")
        wait_for(lambda: widget.paused)  # no cell for idle_grace: no more updates
        assert "does not keep the session alive" in widget.note.value
        count = widget.refreshes
        time.sleep(0.15)
        assert widget.refreshes == count
        shell.run_cell("y = 2")  # a cell runs: updates resume at once
        wait_for(lambda: widget.refreshes > count)
        assert not widget.paused
    finally:
        widget.close()
    assert widget._shell is None
    assert widget._cell_started not in shell.events.callbacks["pre_run_cell"]


@pytest.mark.parametrize(
    "link", ["javascript:alert(document.cookie)//", "JavaScript:alert(1)", "data:text/html,x"]
)
def test_only_http_links_are_rendered(
    tmp_path: Path, make_widget: Callable[..., SessionStatus], link: str
) -> None:
    # from the environment: the model drops the link, with a note
    environ = {**BINDER_ENV, "BINDER_LAUNCH_HOST": link}
    widget = make_widget(make_reader(tmp_path, used=256 * MIB, environ=environ))
    assert widget.info is not None
    assert widget.info.persistent_link is None
    assert "<a " not in widget.header.value
    assert "relaunch" not in widget.header.value
    # a SessionInfo built without validation: the widget checks again before making an anchor
    info = make_reader(tmp_path, used=256 * MIB).read()
    assert info.persistent_link is not None
    raw = SessionInfo.model_construct(**{**dict(info), "persistent_link": link})
    shown = make_widget(lambda: raw)
    assert "<a " not in shown.header.value
    assert link.split(":", maxsplit=1)[0].lower() not in shown.header.value.lower()
    # and an http(s) one is a link
    assert "<a href='https://mybinder.org/v2/gh/" in make_widget(lambda: info).header.value
