"""A tornado server on 127.0.0.1 in a thread of its own: started, and stopped in bounded time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, ClassVar, Self

import tornado.ioloop
import tornado.netutil

if TYPE_CHECKING:
    import socket
    from types import TracebackType


class ServerThread:
    """Subclasses implement `serve(sockets, stop)`: serve on `sockets`, call `self.ready()`
    once serving, return after `stop` is set. `start()` binds the port (0: any free one)."""

    STOP_TIMEOUT: ClassVar[float] = 5.0

    def __init__(self, *, name: str, port: int = 0) -> None:
        self.name = name
        self.port = port
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: tornado.ioloop.IOLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    async def serve(self, sockets: list[socket.socket], stop: asyncio.Event) -> None:
        raise NotImplementedError

    def ready(self) -> None:
        self._started.set()

    def bind(self) -> list[socket.socket]:
        sockets = tornado.netutil.bind_sockets(self.port, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        return sockets

    async def run(self) -> None:
        """Bind and serve in the current event loop until stopped (for a process of its own)."""
        self._stop = asyncio.Event()
        await self.serve(self.bind(), self._stop)

    def start(self) -> None:
        if self._thread is not None:
            msg = f"{self.name} already started"
            raise RuntimeError(msg)
        self._started.clear()
        self._error = None
        sockets = self.bind()
        self._thread = threading.Thread(
            target=self._run, args=(sockets,), name=f"{self.name}-ioloop", daemon=True
        )
        self._thread.start()
        if not self._started.wait(self.STOP_TIMEOUT) or self._error is not None:
            self.stop()
            msg = f"{self.name} failed to start: {self._error!r}"
            raise RuntimeError(msg)

    def stop(self, timeout: float | None = None) -> None:
        """Ask the server to stop and join its thread; RuntimeError if it will not."""
        thread = self._thread
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed already
                loop.add_callback(stop.set)
        thread.join(timeout if timeout is not None else self.STOP_TIMEOUT)
        self._thread = None
        if thread.is_alive():
            msg = f"{self.name} thread did not stop in time"
            raise RuntimeError(msg)

    def _run(self, sockets: list[socket.socket]) -> None:
        loop = tornado.ioloop.IOLoop(make_current=False)
        self._loop = loop

        async def serve() -> None:
            self._stop = asyncio.Event()
            await self.serve(sockets, self._stop)

        try:
            loop.run_sync(serve)
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
        finally:
            for sock in sockets:
                sock.close()
            self._loop = None
            self._stop = None
            loop.close(all_fds=True)
            self._started.set()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
