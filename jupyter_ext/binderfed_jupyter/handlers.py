"""`GET <base_url>binderfed/session`: the session's standing as JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

if TYPE_CHECKING:
    from collections.abc import Callable

#: the authorizer's resource name (`read` on it is what a GET needs)
AUTH_RESOURCE = "binderfed"


class SessionHandler(APIHandler):
    """Answers `SessionInfo` JSON. Authenticated and authorized like `api/status`; does not
    count as activity (a status bar polling it must not keep an idle session alive)."""

    auth_resource = AUTH_RESOURCE
    _track_activity = False

    def initialize(self, session_json: Callable[[], bytes]) -> None:
        self._session_json = session_json

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(self._session_json())
