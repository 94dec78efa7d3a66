"""A session's files through its Jupyter server: list, upload (in chunks, as JupyterLab does),
download (streamed from `files/`), folders recursively.

Paths in the session are checked by `_paths.remote_path` before any request.
"""

# async source: `_contents.py` is generated from this file by `python .ci/unasync.py`.

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from binderfed_sdk._errors import RemotePathError, SessionError
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint
from binderfed_sdk.jupyter._api import RemoteFile
from binderfed_sdk.jupyter._paths import api_path, join, remote_path

if TYPE_CHECKING:
    from collections.abc import Iterator

    from binderfed_sdk.jupyter._api import AsyncServerAPI

__all__ = ["AsyncContents"]

#: JupyterLab's upload chunk (1 MiB): larger files go as numbered chunks, the last one -1
CHUNK = 1024 * 1024
CONTENTS = "api/contents/"
_OK = frozenset({200, 201})


class AsyncContents:
    """The contents API of one session's server."""

    def __init__(self, server: AsyncServerAPI) -> None:
        self._server = server

    async def stat(self, path: str) -> RemoteFile | None:
        """The file or folder at `path`, None when there is none."""
        try:
            answer = await self._server.call(
                "GET", api_path(CONTENTS, path) + "?content=0", f"stat {remote_path(path)!r}"
            )
        except SessionError as error:
            if error.status_code == 404:
                return None
            raise
        if not isinstance(answer, dict) or "type" not in answer:
            msg = f"stat {remote_path(path)!r}: the server's answer is not a contents model"
            raise SessionError(msg, hub=self._server.url)
        return RemoteFile.model_validate(answer)

    async def listdir(self, path: str = "") -> list[RemoteFile]:
        """The entries of a folder in the session, by name."""
        where = remote_path(path)
        answer = await self._server.call(
            "GET", api_path(CONTENTS, where) + "?content=1", f"list {where or '/'!r}"
        )
        if not isinstance(answer, dict) or answer.get("type") != "directory":
            msg = f"{where!r} is not a folder in the session"
            raise SessionError(msg, hub=self._server.url)
        entries = [RemoteFile.model_validate(e) for e in answer.get("content") or []]
        return sorted(entries, key=lambda e: e.name)

    async def mkdir(self, path: str) -> None:
        """Make a folder and its parents (as `mkdir -p`)."""
        done = ""
        for part in remote_path(path).split("/"):
            if not part:
                continue
            done = join(done, part)
            existing = await self.stat(done)
            if existing is None:
                await self._server.call(
                    "PUT", api_path(CONTENTS, done), f"make folder {done!r}",
                    json={"type": "directory"}, ok=_OK,
                )  # fmt: skip
            elif existing.type != "directory":
                msg = f"{done!r} exists in the session and is not a folder"
                raise RemotePathError(msg)

    async def upload(self, local: str | os.PathLike[str], remote: str | None = None) -> list[str]:
        """Copy a local file or folder (recursively) into the session; returns the paths
        written. `remote` defaults to the local name, at the server's root."""
        source = Path(local)
        target = remote_path(remote if remote is not None else source.name)
        folders, files = _local_tree(source, target)
        parent = target.rpartition("/")[0]
        if parent:
            await self.mkdir(parent)
        for folder in folders:
            await self.mkdir(folder)
        for path, name in files:
            for number, chunk, last in _chunks(path):
                # one PUT for a small file; numbered chunks, the last one -1, for a large one
                index = None if number == 1 and last else (-1 if last else number)
                await self._put(name, name.rpartition("/")[2], chunk, index)
        return [name for _, name in files]

    async def _put(self, target: str, name: str, data: bytes, chunk: int | None) -> None:
        model: dict[str, object] = {
            "type": "file",
            "format": "base64",
            "name": name,
            "path": target,
            "content": base64.b64encode(data).decode("ascii"),
        }
        if chunk is not None:
            model["chunk"] = chunk
        await self._server.call(
            "PUT", api_path(CONTENTS, target), f"upload {target!r}", json=model, ok=_OK
        )

    async def download(self, remote: str, local: str | os.PathLike[str]) -> list[Path]:
        """Copy a file or folder (recursively) of the session to `local`; returns the local
        files written. A file is streamed to disk, never held whole in memory."""
        source = remote_path(remote)
        found = await self.stat(source)
        if found is None:
            msg = f"{source!r}: no such file or folder in the session"
            raise SessionError(msg, hub=self._server.url, status_code=404)
        target = Path(local)
        if found.type == "directory":
            return await self._download_folder(source, target)
        target = _file_target(target, found.name)
        await self._download_file(source, target)
        return [target]

    async def _download_folder(self, source: str, target: Path) -> list[Path]:
        _make_folder(target)
        written: list[Path] = []
        for entry in await self.listdir(source):
            if entry.name in {".", ".."} or "/" in entry.name:
                continue
            if entry.type == "directory":
                written += await self._download_folder(entry.path, target / entry.name)
            else:
                await self._download_file(entry.path, target / entry.name)
                written.append(target / entry.name)
        return written

    async def _download_file(self, source: str, target: Path) -> None:
        _make_folder(target.parent)
        partial = target.with_name(target.name + ".part")
        url = endpoint(self._server.url, api_path("files/", source))
        try:
            async with self._server.client.stream(
                "GET", url, headers=self._server.auth_headers, follow_redirects=False
            ) as response:
                if response.status_code != 200:
                    msg = f"download {source!r}: the server answered HTTP {response.status_code}"
                    raise SessionError(msg, hub=self._server.url, status_code=response.status_code)
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
            _move(partial, target)
        except httpx.HTTPError as exc:
            msg = f"download {source!r}: {type(exc).__name__}"
            raise SessionError(msg, hub=self._server.url) from None
        finally:
            _remove(partial)


# local files: plain functions (quick, bounded disk calls; the async code calls them)
def _local_tree(source: Path, target: str) -> tuple[list[str], list[tuple[Path, str]]]:
    """The folders to make and the (file, path in the session) pairs to copy for `source`;
    symbolic links inside a folder are not followed (one may point anywhere)."""
    if source.is_file():
        return [], [(source, target)]
    if not source.is_dir():
        msg = f"{source}: no such file or folder"
        raise RemotePathError(msg)
    folders, files = [target], []
    for top, names, filenames in os.walk(source):  # Path.walk is Python 3.12's
        folder = Path(top)
        names[:] = sorted(n for n in names if not (folder / n).is_symlink())
        where = folder.relative_to(source).as_posix()
        base = join(target, where) if where != "." else target
        folders += [join(base, name) for name in names]
        files += [
            (folder / name, join(base, name))
            for name in sorted(filenames)
            if (folder / name).is_file() and not (folder / name).is_symlink()
        ]
    return folders, files


def _chunks(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(number from 1, data, is it the last) for each CHUNK of the file; one for an empty file."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        number = 1
        while True:
            data = handle.read(CHUNK)
            last = handle.tell() >= size or len(data) < CHUNK
            yield number, data, last
            if last:
                return
            number += 1


def _file_target(target: Path, name: str) -> Path:
    return target / name if target.is_dir() else target


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


def _move(source: Path, target: Path) -> None:
    source.replace(target)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


publish(__name__)
