"""The `binderfed` Jupyter server extension.

Configure it like any Jupyter app (`jupyter_server_config.py` or `.json`)::

    c.BinderFedApp.federation = "mybinder"            # a built-in name or a JSON file
    c.BinderFedApp.limits = {"idle_timeout": 3600}     # override the federation's numbers
    c.BinderFedApp.member_map = {"hub.example.org": "example"}
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Dict, Float, Int, List, Unicode

from binderfed_sdk.insession._reader import SessionInfoReader

from .handlers import SessionHandler

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

    def initialize_settings(self) -> None:
        self.reader = SessionInfoReader(
            self.federation or None,
            limits=dict(self.limits) or None,
            member_map={str(host): str(name) for host, name in self.member_map.items()},
            status=self.server_status,
            process_root=os.getpid(),
            warn_memory_fraction=self.warn_memory_fraction,
            warn_minutes=list(self.warn_minutes),
        )
        self._cached: tuple[float, bytes] | None = None
        self.log.info(
            "binderfed: session status at %sbinderfed/session (federation %s)",
            self.serverapp.base_url if self.serverapp is not None else "/",
            self.reader.federation.name,
        )

    def initialize_handlers(self) -> None:
        self.handlers.append(
            (r"/binderfed/session", SessionHandler, {"session_json": self.session_json})
        )

    def server_status(self) -> dict[str, Any]:
        """`started` and `last_activity` as the server's own `api/status` gives them, read
        from the ServerApp's state (no HTTP round trip)."""
        if self.serverapp is None:
            return {}
        web_app = self.serverapp.web_app
        return {
            "started": web_app.settings.get("started", _EPOCH),
            "last_activity": web_app.last_activity(),  # type: ignore[no-untyped-call]
        }

    def session_info(self) -> SessionInfo:
        return self.reader.read()

    def session_json(self) -> bytes:
        """The JSON answer, read afresh at most every `status_cache_seconds`."""
        now = time.monotonic()
        cached = self._cached
        if cached is not None and now - cached[0] < self.status_cache_seconds:
            return cached[1]
        body = self.session_info().model_dump_json().encode()
        self._cached = (now, body)
        return body
