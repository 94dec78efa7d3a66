"""`SessionStatus`: this Binder session's member, time left and memory, as a notebook widget.

A composite of ipywidgets' built-in widgets (HTML and FloatProgress, like tqdm's notebook bar),
so it needs no JavaScript build. Import it from here (`import binderfed_sdk` does not import
ipywidgets)::

    from binderfed_sdk.widget import SessionStatus
    SessionStatus()

It refreshes itself from a background thread until `.close()`. Every update a widget sends
counts as kernel activity on the Jupyter server, so it would keep an idle session alive: by
default updates pause while no cell runs (memory does not move then, and the stop time is
shown as a clock time, which stays right), and resume when a cell runs.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from binderfed_sdk.insession._member import http_link
from binderfed_sdk.insession._reader import SessionInfoReader, fetch_session_info
from binderfed_sdk.insession._rules import rule_budget

if TYPE_CHECKING:
    from collections.abc import Callable

    from binderfed_sdk.insession._model import SessionInfo

__all__ = ["SessionStatus"]

#: bar_style of each level
_BAR_STYLE = {"ok": "", "warning": "warning", "danger": "danger"}


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
    ) -> None:
        self.header = widgets.HTML(value="")
        self.time_bar = _bar()
        self.time_text = widgets.HTML(value="")
        self.time_row = widgets.HBox([_label("Time left"), self.time_bar, self.time_text])
        self.memory_bar = _bar()
        self.memory_text = widgets.HTML(value="")
        self.memory_row = widgets.HBox([_label("Memory"), self.memory_bar, self.memory_text])
        self.note = widgets.HTML(value="")
        super().__init__([self.header, self.time_row, self.memory_row, self.note])

        self._read = self._source(reader, endpoint=endpoint, token=token)
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

    def refresh(self) -> SessionInfo | None:
        """Read now and show it; returns the reading (None if it failed: see `.error`)."""
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
            self._show(info)
            return info

    # --- showing -------------------------------------------------------------------------

    def _show(self, info: SessionInfo) -> None:
        """The words are `info.display`'s, as the CLI and the status bar show them."""
        display = info.display
        self._show_memory(info)
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
        # the model drops a link that is not http(s); checked again here, where it becomes
        # an anchor, for a SessionInfo built without validation (`model_construct`)
        if (url := http_link(info.persistent_link)) is not None:
            link = html.escape(url, quote=True)
            parts.append(
                f"<a href='{link}' target='_blank' rel='noopener'>relaunch this commit</a>"
            )
        return " · ".join(parts)

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
            self.refresh()

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
        for row in (self.time_row, self.memory_row):
            for part in row.children:
                part.layout.close()
                part.close()
            row.layout.close()
            row.close()
        for part in (self.header, self.note):
            part.layout.close()
            part.close()
        self.layout.close()
        super().close()
