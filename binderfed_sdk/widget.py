"""`SessionStatus`: this Binder session's member, time left and memory, as a notebook widget,
with what a cull would lose (the changed files, "Download my work"), memory over the last
minutes as a chart, and links that open the repository again.

A composite of ipywidgets' built-in widgets (HTML and FloatProgress, like tqdm's notebook bar),
so it needs no JavaScript build. Import it from here (`import binderfed_sdk` does not import
ipywidgets)::

    from binderfed_sdk.widget import SessionStatus
    SessionStatus()

The changed files, the download and the server's memory chart come from the `binderfed_jupyter`
server extension (`binderfed/changes`, `binderfed/download`, `binderfed/memory`), asked like
`binderfed/session`: over HTTP, with the token of the server this kernel runs under (its
runtime file). Without the extension the widget draws the chart from the readings it keeps
itself, and offers no download. The kernel cannot make the browser download a file: the
download is a link (`<a href="<base_url>binderfed/download" download>`), relative to the
page's own origin, so the browser sends the session's cookie along.

It refreshes itself from a background thread until `.close()`. Every update a widget sends
counts as kernel activity on the Jupyter server, so it would keep an idle session alive: by
default updates pause while no cell runs (memory does not move then, and the stop time is
shown as a clock time, which stays right), and resume when a cell runs.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import ipywidgets as widgets

from binderfed_sdk.insession._chart import memory_chart_svg
from binderfed_sdk.insession._display import changes_text
from binderfed_sdk.insession._member import http_link
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader, fetch_session_info
from binderfed_sdk.insession._rules import rule_budget
from binderfed_sdk.insession._server import JupyterServerStatus

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["SessionStatus"]

#: bar_style of each level
_BAR_STYLE = {"ok": "", "warning": "warning", "danger": "danger"}
#: how far back the chart drawn from the widget's own readings goes (the server's: 15 min)
CHART_WINDOW = 900.0
#: file names listed under the count of changed files
LISTED_FILES = 3


def svg_image(svg: str) -> str:
    """An `<img>` showing `svg`: as an image nothing in it runs (never inline SVG)."""
    source = "data:image/svg+xml;charset=utf-8," + quote(svg, safe="")
    return f'<img src="{source}" alt="Memory used over the last minutes">'


def _label(text: str) -> Any:
    return widgets.HTML(value=f"<b>{html.escape(text)}</b>", layout=widgets.Layout(width="7em"))


def _bar() -> Any:
    return widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="16em"))


class SessionStatus(widgets.VBox):  # type: ignore[misc]  # ipywidgets has no type hints
    """Member, time left (and which rule ends the session), memory used against the limit.

    - `reader`: a `SessionInfoReader`, or any callable returning a `SessionInfo` (default: a
      reader for this process, asking the Jupyter server this kernel runs under for its
      activity).
    - `endpoint`: read the server extension's `binderfed/session` instead (True: the server
      this kernel runs under; or that server's URL, with `token`).
    - `interval`: seconds between refreshes; `auto_refresh=False` refreshes only on
      `refresh()`; the refresher stops by itself after `run_for` seconds.
    - `pause_when_idle`: send no updates while no cell has run for `idle_grace` seconds.
    - `server`: the Jupyter server whose `binderfed/changes`, `binderfed/memory` and
      `binderfed/download` to use: its URL (with `token`), or True for the server this
      kernel runs under; default: `endpoint`'s server, else the kernel's own one (none
      outside a kernel). False: none (no changed files, no download; the chart is drawn
      from the widget's own readings).
    """

    def __init__(
        self,
        reader: SessionInfoReader | Callable[[], SessionInfo] | None = None,
        *,
        endpoint: bool | str = False,
        token: str | None = None,
        interval: float = 10.0,
        auto_refresh: bool = True,
        run_for: float = 6 * 3600.0,
        pause_when_idle: bool = True,
        idle_grace: float = 60.0,
        server: bool | str | None = None,
    ) -> None:
        self.header = widgets.HTML(value="")
        self.time_bar = _bar()
        self.time_text = widgets.HTML(value="")
        self.time_row = widgets.HBox([_label("Time left"), self.time_bar, self.time_text])
        self.memory_bar = _bar()
        self.memory_text = widgets.HTML(value="")
        self.memory_row = widgets.HBox([_label("Memory"), self.memory_bar, self.memory_text])
        #: memory over the last minutes: the server's chart, else one drawn from `samples`
        self.chart = widgets.HTML(value="")
        #: what a cull would lose (`binderfed/changes`), and the link that downloads it
        self.changes = widgets.HTML(value="")
        self.download = widgets.HTML(value="")
        #: open this exact commit again, open the latest: each a link and a field to copy
        self.links = widgets.VBox([])
        self.note = widgets.HTML(value="")
        super().__init__(
            [
                self.header,
                self.time_row,
                self.memory_row,
                self.chart,
                self.changes,
                self.download,
                self.links,
                self.note,
            ]
        )

        self._server = self._work_server(server=server, endpoint=endpoint, token=token)
        self._read = self._source(reader, endpoint=endpoint, token=token)
        if reader is None and not endpoint and self._server is not None:
            self._read = self._prefer_extension(self._server, self._read)
        #: the widget's own readings (Unix time, bytes), for a chart without the extension
        self.samples: deque[tuple[float, int]] = deque(maxlen=512)
        self.memory_answer: dict[str, Any] | None = None
        self.changes_answer: dict[str, Any] | None = None
        self._shown_links: list[tuple[str, str, str]] = []
        #: seconds between two walks of the home by the refresher (`binderfed/changes`)
        self.changes_every = max(interval, 30.0)
        self._changes_at = -math.inf
        self.info: SessionInfo | None = None
        self.error: str | None = None
        self.refreshes = 0
        self.interval = interval
        self.pause_when_idle = pause_when_idle
        self.idle_grace = idle_grace
        self.paused = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running_cell = False
        self._last_cell = time.monotonic()
        self._shell = self._watch_cells()
        self._thread: threading.Thread | None = None

        self.refresh()
        if auto_refresh:
            self._thread = threading.Thread(
                target=self._run, args=(run_for,), name="binderfed-session-status", daemon=True
            )
            self._thread.start()

    # --- reading -----------------------------------------------------------------------

    @staticmethod
    def _source(
        reader: SessionInfoReader | Callable[[], SessionInfo] | None,
        *,
        endpoint: bool | str,
        token: str | None,
    ) -> Callable[[], SessionInfo]:
        if reader is not None:
            return reader.read if isinstance(reader, SessionInfoReader) else reader
        if endpoint:
            url = endpoint if isinstance(endpoint, str) else None

            def from_endpoint() -> SessionInfo:
                info = fetch_session_info(url, token)
                if info is None:
                    msg = "the server extension's binderfed/session did not answer"
                    raise RuntimeError(msg)
                return info

            return from_endpoint
        return SessionInfoReader().read

    @staticmethod
    def _prefer_extension(
        server: JupyterServerStatus, local: Callable[[], SessionInfo]
    ) -> Callable[[], SessionInfo]:
        """The extension's reading when it answers: the one the status bar shows (the
        server's own culling settings, its memory figures), so both say the same; else a
        reading made in the kernel."""

        def read() -> SessionInfo:
            answer = server.get("binderfed/session")
            if isinstance(answer, dict):
                return SessionInfo.model_validate(answer)
            return local()

        return read

    @staticmethod
    def _work_server(
        *, server: bool | str | None, endpoint: bool | str, token: str | None
    ) -> JupyterServerStatus | None:
        """Where `binderfed/changes`, `binderfed/memory` and `binderfed/download` are."""
        if server is False:
            return None
        if isinstance(server, str):
            return JupyterServerStatus(server, token)
        if isinstance(endpoint, str):
            return JupyterServerStatus(endpoint, token)
        # only the server this kernel runs under: outside a kernel, "the only server in the
        # runtime folder" may be anybody's
        if server is True or endpoint is True or os.environ.get("JPY_PARENT_PID"):
            return JupyterServerStatus(token=token)
        return None

    @property
    def download_url(self) -> str | None:
        """`<base_url>binderfed/download`, relative to the page's origin (the browser opens
        the notebook from the same server); None without the server extension."""
        server = self._server
        if server is None or server.url is None or self.changes_answer is None:
            return None
        base = urlsplit(server.url).path or "/"
        return base.rstrip("/") + "/binderfed/download"

    def refresh(self) -> SessionInfo | None:
        """Read now and show it; returns the reading (None if it failed: see `.error`)."""
        return self._refresh(scan=True)

    def _refresh(self, *, scan: bool) -> SessionInfo | None:
        with self._lock:
            try:
                info = self._read()
            except Exception as error:  # noqa: BLE001 - shown in the widget, never raised
                self.error = f"{type(error).__name__}: {error}"
                self.note.value = (
                    f"<span style='color:#b71c1c'>could not read the session's status: "
                    f"{html.escape(self.error)}</span>"
                )
                return None
            self.error = None
            self.info = info
            self.refreshes += 1
            if info.memory_used is not None:
                self.samples.append((time.time(), info.memory_used))
            self._fetch_work(scan=scan)
            self._show(info)
            return info

    def _fetch_work(self, *, scan: bool) -> None:
        """The server extension's memory samples and changed files (None: no answer). The
        changes walk the home on the server: asked at most every `changes_every` seconds by
        the refresher, at every `refresh()` called by hand."""
        server = self._server
        if server is None:
            return
        memory = server.get("binderfed/memory")
        self.memory_answer = memory if isinstance(memory, dict) else None
        now = time.monotonic()
        if scan or now - self._changes_at >= self.changes_every:
            self._changes_at = now
            changes = server.get("binderfed/changes")
            self.changes_answer = changes if isinstance(changes, dict) else None

    # --- showing -------------------------------------------------------------------------

    def _show(self, info: SessionInfo) -> None:
        """The words are `info.display`'s, as the CLI and the status bar show them."""
        display = info.display
        self._show_memory(info)
        self._show_chart(info)
        self._show_changes()
        self._show_links(info)
        if not info.in_binder:
            self.header.value = html.escape(display.title) + "."
            self.time_row.layout.display = "none"
            self.note.value = ""
            return
        self.time_row.layout.display = None
        self.header.value = self._header(info)
        self._show_time(info)
        notes = [f"⚠ {warning}" for warning in display.warnings]
        if self.paused:
            notes.append(
                "Updates pause while no cell runs, so this widget does not keep the session alive."
            )
        self.note.value = "<br>".join(html.escape(note) for note in notes)

    @staticmethod
    def _header(info: SessionInfo) -> str:
        parts = [f"<b>{html.escape(info.display.title)}</b>"]
        if info.ref:
            parts.append(f"<code>{html.escape(info.ref[:12])}</code>")
        return " · ".join(parts)

    def _show_chart(self, info: SessionInfo) -> None:
        """The server's chart (its ring of samples outlives the widget), else one drawn from
        the widget's own readings; shown as an image."""
        answer = self.memory_answer
        svg = answer.get("svg") if answer is not None else None
        if not (isinstance(svg, str) and svg.startswith("<svg")):
            if not self.samples:
                self.chart.value = ""
                self.chart.layout.display = "none"
                return
            svg = memory_chart_svg(
                list(self.samples),
                now=time.time(),
                window=CHART_WINDOW,
                limit=info.memory_limit,
                guarantee=info.memory_guarantee,
            )
        self.chart.layout.display = None
        self.chart.value = svg_image(svg)

    def _show_changes(self) -> None:
        """What a cull would lose, and the link that downloads it (with the extension only)."""
        answer = self.changes_answer
        url = self.download_url
        if answer is None or url is None:
            for part in (self.changes, self.download):
                part.value = ""
                part.layout.display = "none"
            return
        count, total = answer.get("count"), answer.get("total_bytes")
        files = answer.get("files")
        names = [
            item["path"]
            for item in (files if isinstance(files, list) else [])
            if isinstance(item, dict) and isinstance(item.get("path"), str)
        ]
        text = changes_text(
            count if isinstance(count, int) else len(names),
            total if isinstance(total, int) else 0,
            names,
            shown=LISTED_FILES,
        )
        message = answer.get("message")
        if answer.get("over_limit") and isinstance(message, str):
            text += " " + message
        self.changes.value = html.escape(text)
        self.changes.layout.display = None
        label = html.escape(self.info.display.download_label if self.info else "Download")
        # a link, not a Button: only the browser can save a file, and the `download`
        # attribute (same origin) with the answer's Content-Disposition makes it do so
        self.download.value = (
            f'<a class="jupyter-button widget-button" href="{html.escape(url, quote=True)}" '
            f'download style="text-decoration:none;padding:0 1em">{label}</a>'
        )
        self.download.layout.display = None

    def _show_links(self, info: SessionInfo) -> None:
        """Each relaunch link: an anchor that opens it and a field to copy it from."""
        wanted = [
            (link.label, url, link.hint)
            for link in info.display.links
            # the model drops a link that is not http(s); checked again here, where it
            # becomes an anchor, for a SessionInfo built without validation
            if (url := http_link(link.url)) is not None
        ]
        if wanted == self._shown_links:
            return
        self._shown_links = wanted
        old = list(self.links.children)
        rows = []
        for label, url, hint in wanted:
            anchor = widgets.HTML(
                value=(
                    f"<a href='{html.escape(url, quote=True)}' target='_blank' rel='noopener' "
                    f"title='{html.escape(hint, quote=True)}' style='color:"
                    f"var(--jp-content-link-color,#1976d2);text-decoration:underline'>"
                    f"{html.escape(label)}</a>"
                ),
                layout=widgets.Layout(width="16em"),
            )
            field = widgets.Text(value=url, layout=widgets.Layout(width="28em"))
            field.observe(self._keep(url), names="value")
            rows.append(widgets.HBox([anchor, field]))
        self.links.children = rows
        for row in old:
            _close_all(row)

    @staticmethod
    def _keep(url: str) -> Callable[[dict[str, Any]], None]:
        """A copy field holds its link: an edit is put back (select it and copy)."""

        def restore(change: dict[str, Any]) -> None:
            if change["new"] != url:
                change["owner"].value = url

        return restore

    def _show_time(self, info: SessionInfo) -> None:
        left = info.seconds_left
        self.time_text.value = html.escape(info.display.time or "")
        if left is None:
            self.time_bar.layout.visibility = "hidden"
            return
        budget = rule_budget(info.limits, info.cull_reason)
        self.time_bar.layout.visibility = "visible"
        self.time_bar.max = float(budget or max(left, 1.0))
        self.time_bar.value = min(left, self.time_bar.max)
        self.time_bar.bar_style = _BAR_STYLE[info.time_level]

    def _show_memory(self, info: SessionInfo) -> None:
        used, limit = info.memory_used, info.memory_limit
        if used is None:
            self.memory_row.layout.display = "none"
            return
        self.memory_row.layout.display = None
        self.memory_text.value = html.escape(info.display.memory or "")
        if not limit:
            self.memory_bar.layout.visibility = "hidden"
            return
        self.memory_bar.layout.visibility = "visible"
        self.memory_bar.max = float(limit)
        self.memory_bar.value = float(min(used, limit))
        self.memory_bar.bar_style = _BAR_STYLE[info.memory_level]

    # --- refreshing --------------------------------------------------------------------

    def _watch_cells(self) -> Any:
        """Follow cell runs (IPython's pre/post_run_cell events), to pause while idle."""
        ipython = sys.modules.get("IPython")  # a kernel has it; a plain script need not load it
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is None:
            return None
        shell.events.register("pre_run_cell", self._cell_started)
        shell.events.register("post_run_cell", self._cell_finished)
        return shell

    def _cell_started(self, *_: object) -> None:
        self._running_cell = True
        self._last_cell = time.monotonic()
        self._wake.set()

    def _cell_finished(self, *_: object) -> None:
        self._running_cell = False
        self._last_cell = time.monotonic()
        self._wake.set()  # show the memory a cell left behind at once

    def _user_active(self) -> bool:
        if self._shell is None or not self.pause_when_idle:
            return True
        return self._running_cell or time.monotonic() - self._last_cell < self.idle_grace

    def _run(self, run_for: float) -> None:
        deadline = time.monotonic() + run_for
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            active = self._user_active()
            if not active:
                if not self.paused:  # one last update saying so, then silence
                    self.paused = True
                    if self.info is not None:
                        with self._lock:
                            self._show(self.info)
                continue
            self.paused = False
            self._refresh(scan=False)

    @property
    def running(self) -> bool:
        """Whether the background refresher is alive."""
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Stop the refresher (waits for it) and close the widget and its parts."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, self.interval))
        if self._shell is not None:
            for event, callback in (
                ("pre_run_cell", self._cell_started),
                ("post_run_cell", self._cell_finished),
            ):
                with contextlib.suppress(ValueError):
                    self._shell.events.unregister(event, callback)
            self._shell = None
        for part in self.children:
            _close_all(part)
        self.layout.close()
        super().close()


def _close_all(widget: Any) -> None:
    """Close `widget`, its children and their layouts (each has a comm of its own)."""
    for child in getattr(widget, "children", ()):
        _close_all(child)
    widget.layout.close()
    widget.close()
