"""Files readable by the user alone, written whole: the sandbox's state and secrets, the launch
history."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PRIVATE_FILE", "write_private"]

PRIVATE_FILE = 0o600


def write_private(path: Path, data: str | bytes) -> None:
    """Write `path` whole and 0600 from its first byte: a temporary file renamed into place,
    so a reader never sees half of it (and a failed write leaves no temporary behind)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE)  # a temporary an earlier run left readable
            with os.fdopen(fd, "wb", closefd=False) as out:  # writes it all
                out.write(data.encode() if isinstance(data, str) else data)
        finally:
            os.close(fd)
        temporary.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
