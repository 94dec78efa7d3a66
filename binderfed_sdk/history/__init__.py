"""The local launch history (JSON Lines in the user's cache folder) and the `history` routing
policy that learns from it. See `_store.py` for the file and `_policy.py` for the policy.

Settings: `BINDERFED_HISTORY=0` (or off/false/no) records nothing; `BINDERFED_HISTORY_FILE`
moves the file; `BINDERFED_HISTORY_MAX_SHARE` (default 0.3) bounds the share of launches the
`history` policy sends away from the federation's weights."""

from __future__ import annotations

from binderfed_sdk.history._policy import DEFAULT_MAX_SHARE, ENV_MAX_SHARE, HistoryPolicy
from binderfed_sdk.history._record import record_launch
from binderfed_sdk.history._store import (
    DEFAULT_MAX_BYTES,
    ENV_HISTORY,
    ENV_HISTORY_FILE,
    History,
    LaunchRecord,
    Route,
    default_path,
    history_enabled,
    make_record,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SHARE",
    "ENV_HISTORY",
    "ENV_HISTORY_FILE",
    "ENV_MAX_SHARE",
    "History",
    "HistoryPolicy",
    "LaunchRecord",
    "Route",
    "default_path",
    "history_enabled",
    "make_record",
    "record_launch",
]
