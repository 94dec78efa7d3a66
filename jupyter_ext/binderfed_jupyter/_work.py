"""The work a cull would lose: files of the session's home created or changed since the server
started, and a zip of them written as a stream.

Binder's home is the repository as the image holds it; its files keep the image's times (the
sandbox copies them with theirs), older than the server. So "changed since the session
started" is "modified at or after the server's start", which needs no record of the image.
Folders no one wants back are left out: notebook checkpoints, caches, virtual environments,
Git's own folder and other tools' state.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from binderfed_sdk._format import format_bytes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["ChangedFile", "Changes", "scan_changes", "too_big_message", "write_zip"]

#: folder names never worth saving: checkpoints, caches, tool state, package folders
SKIPPED_FOLDERS = frozenset(
    {
        ".ipynb_checkpoints",
        "__pycache__",
        ".cache",
        ".git",
        ".hg",
        ".svn",
        ".ipython",
        ".jupyter",
        ".local",
        ".npm",
        ".yarn",
        ".conda",
        ".virtual_documents",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
    }
)
#: formats compressed already: stored as they are (deflating costs time and saves nothing)
STORED_SUFFIXES = frozenset(
    {
        ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z", ".whl", ".jar",
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".mp3", ".mp4", ".mkv", ".webm", ".ogg",
        ".pdf", ".parquet", ".npz", ".h5", ".hdf5", ".nc", ".feather", ".pkl.gz",
    }
)  # fmt: skip
#: a bound on the walk itself: a home with more entries than this is not walked to the end
MAX_ENTRIES = 200_000
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ChangedFile:
    path: str  # relative to the root, with `/`
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Changes:
    files: tuple[ChangedFile, ...]
    #: the walk stopped at MAX_ENTRIES: there may be more
    truncated: bool

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def largest(self, count: int = 5) -> list[ChangedFile]:
        return sorted(self.files, key=lambda f: (-f.size, f.path))[:count]


def _is_environment(folder: Path) -> bool:
    """A virtual environment (whatever its name): it has a `pyvenv.cfg`, or a conda-meta."""
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def scan_changes(root: Path, since: float) -> Changes:
    """Regular files under `root` modified at or after `since` (a Unix time), without
    following symbolic links (a link may point anywhere on the machine)."""
    found: list[ChangedFile] = []
    seen = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable or gone meanwhile: nothing of it can be saved either
        for entry in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                return Changes(tuple(sorted(found, key=lambda f: f.path)), truncated=True)
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                path = Path(entry.path)
                if entry.name not in SKIPPED_FOLDERS and not _is_environment(path):
                    stack.append(path)
            elif stat.S_ISREG(info.st_mode) and info.st_mtime >= since:
                relative = Path(entry.path).relative_to(root).as_posix()
                found.append(ChangedFile(relative, info.st_size, info.st_mtime))
    return Changes(tuple(sorted(found, key=lambda f: f.path)), truncated=False)


def too_big_message(changes: Changes, limit: int) -> str:
    """Why there is no zip: the total against the limit, and the largest files to look at."""
    names = ", ".join(f"{f.path} ({format_bytes(f.size)})" for f in changes.largest())
    total, limit_text = format_bytes(changes.total_bytes), format_bytes(limit)
    if total == limit_text:  # rounded alike: say both in bytes
        total, limit_text = f"{changes.total_bytes:,} bytes", f"{limit:,} bytes"
    return (
        f"The changed files come to {total}, over the download "
        f"limit of {limit_text}. Largest: {names}. Download the large files one by "
        f"one from the file browser, or remove the ones you do not need."
    )


class _Sink:
    """A write-only, unseekable file for zipfile: hands each written piece to `emit`
    (zipfile then writes sizes after each entry's data, as streaming zips do)."""

    def __init__(self, emit: Callable[[bytes], None]) -> None:
        self._emit = emit
        self._written = 0

    def write(self, data: bytes) -> int:
        if data:
            self._emit(bytes(data))
            self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass


def write_zip(root: Path, files: tuple[ChangedFile, ...], emit: Callable[[bytes], None]) -> int:
    """Write a zip of `files` (under `root`) piece by piece to `emit`, reading each file in
    chunks; returns the number of files written. A file that vanished or became something
    else meanwhile is left out; one that grew is cut at the size it had when scanned, so the
    total stays within what was checked against the limit."""
    written = 0
    with zipfile.ZipFile(cast("IO[bytes]", _Sink(emit)), "w", allowZip64=True) as archive:
        for item in files:
            path = root / item.path
            try:
                handle = path.open("rb", buffering=0)
            except OSError:
                continue
            with handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    continue
                entry = zipfile.ZipInfo.from_file(path, item.path, strict_timestamps=False)
                suffix = path.suffix.lower()
                if suffix in STORED_SUFFIXES:
                    entry.compress_type = zipfile.ZIP_STORED
                else:
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    # fast: the point is getting the work out (`compress_level` from 3.13 on)
                    setattr(entry, "_compresslevel", 1)  # noqa: B010
                with archive.open(entry, "w", force_zip64=item.size > 2**31) as out:
                    for chunk in _chunks(handle, item.size):
                        out.write(chunk)
            written += 1
    return written


def _chunks(handle: IO[bytes], limit: int) -> Iterator[bytes]:
    left = limit
    read = handle.read
    while left > 0:
        chunk: bytes = read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk
