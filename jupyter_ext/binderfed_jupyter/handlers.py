"""The extension's endpoints, each authenticated and authorized like `api/status`, and none
counting as activity (a status bar polling them must not keep an idle session alive):

- `GET <base_url>binderfed/session`: the session's standing (`SessionInfo`) as JSON;
- `GET <base_url>binderfed/memory`: memory over the last minutes, with its chart;
- `GET <base_url>binderfed/changes`: the files a cull would lose;
- `GET <base_url>binderfed/download`: those files as a zip, streamed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from ._work import scan_changes, too_big_message, write_zip

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ._work import Changes

#: the authorizer's resource name (`read` on it is what a GET needs)
AUTH_RESOURCE = "binderfed"
#: files listed by `changes` (the count and the total always cover all of them)
LISTED = 500
#: zip pieces in flight between the writing thread and the connection
QUEUED = 8


class _Handler(APIHandler):
    auth_resource = AUTH_RESOURCE
    _track_activity = False


class SessionHandler(_Handler):
    """Answers `SessionInfo` JSON."""

    def initialize(self, session_json: Callable[[], bytes]) -> None:
        self._session_json = session_json

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(self._session_json())


class MemoryHandler(_Handler):
    """Memory samples of the last window, the limit, the guarantee and the SVG chart."""

    def initialize(self, memory: Callable[[], dict[str, Any]]) -> None:
        self._memory = memory

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(self._memory()))


class _WorkHandler(_Handler):
    def initialize(
        self, root: Callable[[], Path], started: Callable[[], float], limit: int
    ) -> None:
        self._root = root
        self._started = started
        self._limit = limit

    async def scan(self) -> Changes:
        # a walk of the home is disk I/O: off the event loop
        return await asyncio.to_thread(scan_changes, self._root(), self._started())


class ChangesHandler(_WorkHandler):
    """What changed since the server started: count, total size and the files (newest first)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        changes = await self.scan()
        newest = sorted(changes.files, key=lambda f: (-f.mtime, f.path))[:LISTED]
        total = changes.total_bytes
        answer = {
            "count": len(changes.files),
            "total_bytes": total,
            "limit_bytes": self._limit,
            "over_limit": total > self._limit,
            "message": too_big_message(changes, self._limit) if total > self._limit else None,
            "truncated": changes.truncated,
            "since": datetime.fromtimestamp(self._started(), UTC).isoformat(),
            "files": [{"path": f.path, "size": f.size, "mtime": f.mtime} for f in newest],
        }
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(answer))


class DownloadHandler(_WorkHandler):
    """The changed files as a zip, streamed as it is written; 413 with the largest files
    named when they come to more than the limit."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        changes = await self.scan()
        if changes.total_bytes > self._limit:
            self.set_status(413)
            self.finish(json.dumps({"message": too_big_message(changes, self._limit)}))
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", f'attachment; filename="binder-work-{stamp}.zip"')
        self.set_header("Cache-Control", "no-store")
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUED)
        gone = False

        def emit(data: bytes) -> None:
            # the writing thread waits while the connection is behind (bounded memory)
            if gone:
                raise StreamClosedError
            asyncio.run_coroutine_threadsafe(pieces.put(data), loop).result()

        def produce() -> None:
            try:
                write_zip(self._root(), changes.files, emit)
            finally:
                with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
                    asyncio.run_coroutine_threadsafe(pieces.put(None), loop)

        writer = asyncio.ensure_future(asyncio.to_thread(produce))
        try:
            while (piece := await pieces.get()) is not None:
                self.write(piece)
                await self.flush()
        except StreamClosedError:
            gone = True
            # let the thread see it: drain what it is waiting to hand over
            while not writer.done():
                with contextlib.suppress(asyncio.QueueEmpty):
                    pieces.get_nowait()
                await asyncio.sleep(0.01)
            return
        with contextlib.suppress(StreamClosedError):
            await writer
        self.finish()
