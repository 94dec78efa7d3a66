"""Paths in a session's server: relative to its root, and never leaving it.

Checked before any request: a `..` (or an absolute path, or a NUL) is refused, so nothing a
caller passes can name a file outside the server's root, whatever the server would do.
"""

from __future__ import annotations

from urllib.parse import quote

from binderfed_sdk._errors import RemotePathError
from binderfed_sdk._lazy import publish

__all__ = ["api_path", "join", "remote_path"]


def remote_path(path: str) -> str:
    """`path` as the contents API names it: `/`-separated, relative to the root, no `.` or
    empty parts; "" is the root itself."""
    if "\0" in path or "\\" in path:
        msg = f"{path!r}: a path in the session may not hold a NUL or a backslash"
        raise RemotePathError(msg)
    if path.startswith("/"):
        msg = f"{path!r}: give paths in the session relative to its root (no leading /)"
        raise RemotePathError(msg)
    parts = [part for part in path.split("/") if part not in {"", "."}]
    if ".." in parts:
        msg = f"{path!r}: '..' would leave the session's root"
        raise RemotePathError(msg)
    return "/".join(parts)


def join(folder: str, name: str) -> str:
    return remote_path(f"{folder}/{name}" if folder else name)


def api_path(prefix: str, path: str) -> str:
    """`api/contents/<path>` with each part percent-encoded (a `?` or `#` in a name stays
    part of the name)."""
    return prefix + quote(remote_path(path), safe="/")


publish(__name__)
