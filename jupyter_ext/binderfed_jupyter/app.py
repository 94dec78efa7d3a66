"""The `binderfed` Jupyter server extension.

Configure it like any Jupyter app (`jupyter_server_config.py` or `.json`)::

    c.BinderFedApp.federation = "mybinder"            # a built-in name or a JSON file
    c.BinderFedApp.limits = {"idle_timeout": 3600}     # override the federation's numbers
    c.BinderFedApp.member_map = {"hub.example.org": "example"}

The server's own idle shutdown and kernel culling are read from this server's settings
(`ServerApp.shutdown_no_activity_timeout`, `MappingKernelManager.cull_*`): they are what acts
here, whatever the federation's data says; `limits` still overrides them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, Unicode

from binderfed_sdk.insession._chart import memory_chart_svg
from binderfed_sdk.insession._reader import SessionInfoReader
from binderfed_sdk.insession._server import KERNELS_KEY

from .handlers import ChangesHandler, DownloadHandler, MemoryHandler, SessionHandler

if TYPE_CHECKING:
    from binderfed_sdk.insession._model import SessionInfo

#: what `api/status` answers as `started` when the server never recorded one
_EPOCH = datetime.fromtimestamp(0, UTC)


class BinderFedApp(ExtensionApp):
    """Serves the session's limits, time left and memory at `<base_url>binderfed/session`."""

    name = "binderfed"
    load_other_extensions = True

    federation = Unicode(
        "",
        help="The federation whose limits apply: a built-in name (mybinder) or a JSON file. "
        "Empty: $BINDERFED_FEDERATION, else mybinder.",
    ).tag(config=True)
    limits = Dict(
        help="Overrides of the federation's session limits, by field "
        "(idle_timeout, max_age, cull_every, cpu_seconds, mem_limit, ...).",
    ).tag(config=True)
    member_map = Dict(
        help="Extra host -> member names, consulted first to tell which member runs the "
        "session (image registry, hub and launch hosts).",
    ).tag(config=True)
    warn_memory_fraction = Float(
        0.8, min=0.0, max=1.0, help="Memory used past this fraction of the limit is a warning."
    ).tag(config=True)
    warn_minutes = List(
        Int(), default_value=[10, 2], help="Warn under these many minutes left."
    ).tag(config=True)
    status_cache_seconds = Float(
        1.0, min=0.0, help="Answer the same reading for this long (0: read at every request)."
    ).tag(config=True)

    download_max_bytes = Int(
        200 * 1024**2,
        min=0,
        help="The largest total of changed files the work download zips (bytes); over it, "
        "the download answers 413 with the largest files named.",
    ).tag(config=True)
    memory_sample_seconds = Float(
        15.0, min=1.0, help="How often memory use is sampled for the chart (s)."
    ).tag(config=True)
    memory_window_seconds = Float(
        900.0, min=60.0, help="How far back the memory chart goes (s)."
    ).tag(config=True)

    kernel_websocket_nodelay = Bool(
        default_value=True,
        help="Turn Nagle's algorithm off on kernel websockets (about 40 ms less per "
        "execution; see binderfed_jupyter/_nodelay.py). Only when the server uses "
        "jupyter_server's own kernel websocket connection.",
    ).tag(config=True)

    def initialize_settings(self) -> None:
        if self.kernel_websocket_nodelay and self.serverapp is not None:
            from ._nodelay import install  # noqa: PLC0415 - only what the setting asks for

            # the web app's settings are taken from `self.settings` after this method
            if install(self.settings):
                self.log.debug("binderfed: kernel websockets without Nagle's algorithm")
        self._reader: SessionInfoReader | None = None
        self._cached: tuple[float, bytes] | None = None
        size = int(self.memory_window_seconds / self.memory_sample_seconds) + 1
        #: (Unix time, bytes used): a bounded ring, the oldest sample dropped first
        self._memory_samples: deque[tuple[float, int]] = deque(maxlen=size)
        self._memory_figures: tuple[int | None, int | None] = (None, None)
        self._sampler: asyncio.Task[None] | None = None
        self.log.info(
            "binderfed: session status at %sbinderfed/session",
            self.serverapp.base_url if self.serverapp is not None else "/",
        )

    @property
    def reader(self) -> SessionInfoReader:
        """Made at the first reading: the kernel manager's settings are final by then."""
        if self._reader is None:
            self._reader = SessionInfoReader(
                self.federation or None,
                limits={**self.server_limits(), **self.limits} or None,
                member_map={str(host): str(name) for host, name in self.member_map.items()},
                status=self.server_status,
                process_root=os.getpid(),
                warn_memory_fraction=self.warn_memory_fraction,
                warn_minutes=list(self.warn_minutes),
            )
        return self._reader

    def server_limits(self) -> dict[str, Any]:
        """This server's own idle shutdown and kernel culling settings, as limits (0: off)."""
        serverapp = self.serverapp
        if serverapp is None:
            return {}
        limits: dict[str, Any] = {
            "server_idle_timeout": serverapp.shutdown_no_activity_timeout or None
        }
        manager = serverapp.kernel_manager
        timeout = getattr(manager, "cull_idle_timeout", None)
        if isinstance(timeout, int | float):
            limits["kernel_idle_timeout"] = timeout or None
            interval = getattr(manager, "cull_interval", 0)
            if isinstance(interval, int | float) and interval > 0:
                limits["kernel_cull_every"] = interval
            limits["kernel_cull_connected"] = bool(getattr(manager, "cull_connected", False))
            limits["kernel_cull_busy"] = bool(getattr(manager, "cull_busy", False))
        return limits

    def initialize_handlers(self) -> None:
        work = {
            "root": self.work_root,
            "started": self.started_at,
            "limit": self.download_max_bytes,
        }
        self.handlers.extend(
            [
                (r"/binderfed/session", SessionHandler, {"session_json": self.session_json}),
                (r"/binderfed/memory", MemoryHandler, {"memory": self.memory_history}),
                (r"/binderfed/changes", ChangesHandler, work),
                (r"/binderfed/download", DownloadHandler, work),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:  # noqa: ARG002
        """Sampling starts with the server's event loop."""
        self.ensure_sampling()

    def ensure_sampling(self) -> None:
        """Start sampling memory unless it runs (also at the first request: a server that is
        embedded, as in tests, may never run the start hook)."""
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.ensure_future(self._sample_memory())

    async def stop_extension(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

    async def _sample_memory(self) -> None:
        while True:
            # on the event loop, not a thread: the reading looks at the kernel manager's state
            with contextlib.suppress(Exception):  # a reading that fails is a gap, not a crash
                self.record_memory(self.session_info())
            await asyncio.sleep(self.memory_sample_seconds)

    def record_memory(self, info: SessionInfo) -> None:
        if info.memory_used is not None:
            self._memory_samples.append((time.time(), info.memory_used))
        self._memory_figures = (info.memory_limit, info.memory_guarantee)

    def memory_history(self) -> dict[str, Any]:
        """The samples of the last window, the limit, the guarantee and their chart."""
        self.ensure_sampling()
        now = time.time()
        samples = [
            (t, used) for t, used in self._memory_samples if t >= now - self.memory_window_seconds
        ]
        limit, guarantee = self._memory_figures
        return {
            "interval": self.memory_sample_seconds,
            "window": self.memory_window_seconds,
            "samples": samples,
            "limit": limit,
            "guarantee": guarantee,
            "svg": memory_chart_svg(
                samples,
                now=now,
                window=self.memory_window_seconds,
                limit=limit,
                guarantee=guarantee,
            ),
        }

    def work_root(self) -> Path:
        """The folder whose changes are the session's work: the server's root."""
        root = self.serverapp.root_dir if self.serverapp is not None else Path.cwd()
        return Path(root).expanduser().resolve()

    def started_at(self) -> float:
        """When this server started (Unix time): files changed since are the session's work."""
        started = self.server_status().get("started", _EPOCH)
        return started.timestamp() if isinstance(started, datetime) else 0.0

    def server_status(self) -> dict[str, Any]:
        """`started` and `last_activity` as the server's own `api/status` gives them, and the
        kernels as `api/kernels` does, read from the ServerApp's state (no HTTP round trip,
        no activity recorded)."""
        if self.serverapp is None:
            return {}
        web_app = self.serverapp.web_app
        status: dict[str, Any] = {
            "started": web_app.settings.get("started", _EPOCH),
            "last_activity": web_app.last_activity(),  # type: ignore[no-untyped-call]
        }
        manager = self.serverapp.kernel_manager
        if manager is not None:
            # no await between listing and reading: no kernel can go in between
            status[KERNELS_KEY] = [
                manager.kernel_model(kernel_id)  # type: ignore[no-untyped-call]
                for kernel_id in manager.list_kernel_ids()
            ]
        return status

    def session_info(self) -> SessionInfo:
        return self.reader.read()

    def session_json(self) -> bytes:
        """The JSON answer, read afresh at most every `status_cache_seconds`."""
        self.ensure_sampling()
        now = time.monotonic()
        cached = self._cached
        if cached is not None and now - cached[0] < self.status_cache_seconds:
            return cached[1]
        body = self.session_info().model_dump_json().encode()
        self._cached = (now, body)
        return body
