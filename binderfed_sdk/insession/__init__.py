"""Inside a running Binder session: its member, the time left before it is stopped, memory
against the limit. Imports only pure data models: never an HTTP client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._model import SessionInfo
    from ._reader import SessionInfoReader, fetch_session_info, read_session_info
    from ._rules import TimeLeft, time_left

_EXPORTS = {
    "SessionInfo": "._model",
    "SessionInfoReader": "._reader",
    "TimeLeft": "._rules",
    "fetch_session_info": "._reader",
    "read_session_info": "._reader",
    "time_left": "._rules",
}
__all__ = [
    "SessionInfo",
    "SessionInfoReader",
    "TimeLeft",
    "fetch_session_info",
    "read_session_info",
    "time_left",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
