"""SessionStatus, the notebook widget: its state under a Binder-like environment (cgroup files
written for real into tmp_path), warning styles past the thresholds, outside Binder, the
background refresher (stopped by close, paused while no cell runs); with a real Jupyter
server running the extension: the changed files, the "Download my work" link (and what it
downloads), the server's memory chart, the relaunch links."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import pytest
from test_session_command import LATEST, start_session_server

from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from servers import JupyterServer


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
    assert len(state["children"]) == 8
    header, time_row, memory_row, chart, changes, download, links, note = widget.children
    assert header is widget.header
    assert "bids-ovh" in header.value
    # the relaunch link: an anchor that opens it, a field to copy it from
    (row,) = links.children
    anchor, field = row.children
    url = "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c9d0e1"
    assert f"<a href='{url}' target='_blank' rel='noopener'" in anchor.value
    assert "Open this exact commit again</a>" in anchor.value
    assert field.value == url
    # no server extension here: no changed files, no download; the chart is the widget's own
    assert (changes.layout.display, download.layout.display) == ("none", "none")
    assert chart.value.startswith('<img src="data:image/svg+xml;charset=utf-8,%3Csvg')
    assert 'class="used"' in unquote(chart.value)

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
        assert "The first limit to act is" in widget.note.value
        assert "Save your work and download it (Download my work)" in widget.note.value


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
    assert widget.links.children == ()
    # a SessionInfo built without validation: the widget checks again before making an anchor
    info = make_reader(tmp_path, used=256 * MIB).read()
    assert info.persistent_link is not None
    raw = SessionInfo.model_construct(**{**dict(info), "persistent_link": link})
    shown = make_widget(lambda: raw)
    assert shown.links.children == ()
    # and an http(s) one is a link
    (row,) = make_widget(lambda: info).links.children
    assert "<a href='https://mybinder.org/v2/gh/" in row.children[0].value


# --- with the server extension --------------------------------------------------------------

BASE = "/user/someone/"


@pytest.fixture(scope="module")
def session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A Binder-like server with the extension, under a hub's kind of base URL."""
    server, home = start_session_server(tmp_path_factory.mktemp("widget"), base_url=BASE)
    try:
        (home / "analysis.ipynb").write_text('{"cells": []}')
        yield server
    finally:
        server.stop()


def test_with_the_server_extension(
    session_server: JupyterServer, make_widget: Callable[..., SessionStatus]
) -> None:
    server = session_server
    widget = make_widget(None, endpoint=server.url + BASE.lstrip("/"), token=server.token)
    assert widget.info is not None
    assert widget.info.in_binder
    # what a cull would lose: its log and the notebook written after the start
    assert widget.changes.layout.display is None
    assert widget.changes.value.startswith("2 files changed since the session started (")
    assert "analysis.ipynb" in widget.changes.value
    # the download: a link relative to the page's origin (the browser has the session's
    # cookie there), with the button's label from the display strings
    assert widget.download_url == "/user/someone/binderfed/download"
    assert widget.download.value.startswith(
        '<a class="jupyter-button widget-button" href="/user/someone/binderfed/download" download '
    )
    assert ">Download my work</a>" in widget.download.value
    # what the link downloads: the zip of the changed files
    answer = httpx.get(
        server.url.rstrip("/") + widget.download_url,
        headers={"Authorization": f"token {server.token}"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="binder-work-')
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert set(archive.namelist()) == {"analysis.ipynb", "jupyter-server.log"}
        assert archive.read("analysis.ipynb") == b'{"cells": []}'
    # memory over time: the server's chart, as an image (nothing in it runs)
    assert widget.memory_answer is not None
    source = widget.chart.value.removeprefix('<img src="').split('"', 1)[0]
    assert (
        unquote(source.removeprefix("data:image/svg+xml;charset=utf-8,"))
        == (widget.memory_answer["svg"])
    )
    assert "<svg" not in widget.chart.value  # never inline
    # open this exact commit again, open the latest: each copyable
    rows = widget.links.children
    assert [row.children[1].value for row in rows] == [
        "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c",
        LATEST,
    ]
    assert "Open the latest</a>" in rows[1].children[0].value
    field = rows[1].children[1]
    field.value = "edited by a stray key"
    assert field.value == LATEST  # a copy field holds its link


def test_the_reading_is_the_extensions_when_it_answers(
    session_server: JupyterServer, make_widget: Callable[..., SessionStatus]
) -> None:
    """No reader given, a server with the extension: its reading (the status bar's), not
    one made in this process, which has no BINDER_* variables and would say so."""
    server = session_server
    widget = make_widget(None, server=server.url + BASE.lstrip("/"), token=server.token)
    assert widget.info is not None
    assert widget.info.in_binder
    assert widget.info.member == "hetzner-gesis"
    # without the extension's answer (no such server): the reading made here
    alone = make_widget(None, server=False)
    assert alone.info is not None
    assert not alone.info.in_binder


def test_the_chart_from_its_own_readings_without_the_extension(
    tmp_path: Path, make_widget: Callable[..., SessionStatus]
) -> None:
    reader = make_reader(tmp_path, used=200 * MIB)
    widget = make_widget(reader, server=False)
    write_memory(tmp_path, 600 * MIB, 1024 * MIB)
    widget.refresh()
    assert [used for _, used in widget.samples] == [200 * MIB, 600 * MIB]
    svg = unquote(widget.chart.value)
    assert 'class="used"' in svg
    assert "limit 1.0 GiB" in svg
    assert widget.download_url is None


# --- in a real JupyterLab: the download link works where the widget is shown ----------------


@pytest.mark.parametrize("app", ["jupyterlab", "notebook"])
def test_download_link_in_a_real_jupyterlab(tmp_path: Path, app: str) -> None:
    """The kernel cannot make the browser save a file; the widget's link does, in a real
    JupyterLab and Notebook 7 (Chromium): same origin, with the cookie the token login set,
    and the server's `Content-Disposition`. The chart shows as an image; the links are
    copyable."""
    from browser_support import (  # noqa: PLC0415 - only this test needs a browser
        CHROMIUM_ARGS,
        JupyterLab,
        binder_environment,
        federation_without_cpu_budget,
        output_dir,
        require_chromium,
    )
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    chromium = require_chromium()
    env = binder_environment()
    # this machine's cgroup is not a session's: no CPU-time budget (see the helper)
    env["BINDERFED_FEDERATION"] = str(federation_without_cpu_budget(tmp_path))
    lab = JupyterLab(tmp_path, env, app=app)
    lab.start()
    try:
        lab.put_file("results.csv", "x,y\n1,2\n")
        lab.put_file(
            "status.ipynb",
            {
                "nbformat": 4,
                "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "cells": [
                    {
                        "cell_type": "code",
                        "id": "status",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [],
                        "source": "from binderfed_sdk.widget import SessionStatus\nSessionStatus()",
                    }
                ],
            },
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
            )
            try:
                context = browser.new_context(
                    viewport={"width": 1280, "height": 900}, accept_downloads=True
                )
                page = context.new_page()
                where = "lab/tree" if app == "jupyterlab" else "notebooks"
                page.goto(f"{lab.url}{where}/status.ipynb?token={lab.token}", timeout=30_000)
                page.wait_for_function(
                    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session"
                    "?.kernel?.status === 'idle'",
                    timeout=60_000,
                )
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                link = page.locator(".widget-html a[download]")
                link.wait_for(state="visible", timeout=60_000)
                assert link.inner_text() == "Download my work"
                assert link.get_attribute("href") == "/binderfed/download"
                chart = page.locator(".widget-html img[src^='data:image/svg+xml']")
                chart.wait_for(state="visible", timeout=10_000)
                page.wait_for_function(
                    "sel => document.querySelector(sel)?.naturalWidth > 0",
                    arg=".widget-html img[src^='data:image/svg+xml']",
                    timeout=10_000,
                )
                fields = page.locator(".widget-text input").evaluate_all(
                    "inputs => inputs.map(input => input.value)"
                )
                assert fields == [
                    f"https://mybinder.org/v2/gh/binder-examples/requirements/{env_sha(env)}",
                    LATEST,
                ]
                assert page.locator(".widget-html svg").count() == 0  # an image, never markup
                page.screenshot(path=str(output_dir() / f"widget-work-{app}.png"))
                with page.expect_download(timeout=60_000) as download_info:
                    link.click()
                download = download_info.value
                assert re.fullmatch(r"binder-work-\d{8}-\d{6}\.zip", download.suggested_filename)
                saved = tmp_path / download.suggested_filename
                download.save_as(saved)
                context.close()
            finally:
                browser.close()
        with zipfile.ZipFile(saved) as archive:
            assert archive.read("results.csv") == b"x,y\n1,2\n"
            assert "status.ipynb" in archive.namelist()
    finally:
        lab.stop()


def env_sha(env: dict[str, str]) -> str:
    return env["BINDER_PERSISTENT_REQUEST"].rsplit("/", 1)[-1]
