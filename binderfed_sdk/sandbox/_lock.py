"""One exclusive file lock for the sandbox's own files (its state folder's, the proxy install's)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import TYPE_CHECKING

from binderfed_sdk._errors import SandboxError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float,
    waiting: Callable[[], None] | None = None,
    busy: str | None = None,
) -> Iterator[None]:
    """An exclusive lock on `path` (made 0600 if new), waited for up to `timeout` s, then
    `SandboxError` (`busy`, else a generic text). `waiting` is called once if it must wait."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = busy or f"{path} stayed locked for {timeout:g} s; try again"
                    raise SandboxError(msg) from None
                if waiting is not None and not told:
                    waiting()
                    told = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock
