"""A kernel in a session: started through the server's REST API, spoken to over its websocket
(httpx-ws; jupyter_client's message model), interrupted past a timeout, shut down on exit."""

# async source: `_kernel.py` is generated from this file by `python .ci/unasync.py`.

from __future__ import annotations

import contextlib
import json
import queue
import time
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlencode

import httpx
from httpx_ws import HTTPXWSException, aconnect_ws

from binderfed_sdk._errors import ExecutionError, ExecutionTimeout, KernelError
from binderfed_sdk._lazy import publish
from binderfed_sdk._urls import endpoint
from binderfed_sdk.jupyter._messages import Outputs, _Factory, execute_request, strip_ansi

if TYPE_CHECKING:
    import types

    from binderfed_sdk.jupyter._api import AsyncServerAPI
    from binderfed_sdk.jupyter._messages import ExecutionResult

__all__ = ["AsyncKernel"]

#: the largest websocket message taken (decoded bytes): big enough for plots and data frames
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: how long a new kernel may take to answer its first kernel_info_request
START_TIMEOUT = 60.0
#: after an interrupt, how long the kernel may take to report idle
INTERRUPT_GRACE = 10.0
#: at most this many unread messages are taken when closing (the reader's queue holds 512)
DRAIN_LIMIT = 100_000


class AsyncKernel:
    """A running kernel: `execute(code)` runs code and returns what it produced.

    Use it as a context manager (`async with session.kernel() as kernel:`): the kernel is
    shut down on exit, whatever happened inside.
    """

    def __init__(self, server: AsyncServerAPI, name: str = "python3", *, path: str = "") -> None:
        self._server = server
        self.name = name
        self._path = path
        self.id: str | None = None
        self._stack = contextlib.AsyncExitStack()
        self._ws: Any = None
        self._factory: _Factory | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} id={self.id}>"

    async def start(self) -> Self:
        model = await self._server.call(
            "POST", "api/kernels", f"start a {self.name} kernel",
            json={"name": self.name, "path": self._path}, ok=frozenset({200, 201}),
        )  # fmt: skip
        kernel_id = model.get("id") if isinstance(model, dict) else None
        if not isinstance(kernel_id, str) or not kernel_id:
            msg = "the server's answer to starting a kernel has no kernel id"
            raise KernelError(msg, hub=self._server.url)
        self.id = kernel_id
        try:
            await self._connect()
            await self._request("kernel_info_request", {}, timeout=START_TIMEOUT)
        except BaseException:
            await self.shutdown()
            raise
        return self

    async def _connect(self) -> None:
        self._factory = _Factory()
        query = urlencode({"session_id": self._factory.session_id})
        url = endpoint(self._server.url, f"api/kernels/{quote(self.id or '')}/channels?{query}")
        try:
            self._ws = await self._stack.enter_async_context(
                aconnect_ws(
                    url,
                    self._server.client,
                    headers=self._server.auth_headers,
                    max_message_size_bytes=MAX_MESSAGE_BYTES,
                    keepalive_ping_interval_seconds=None,
                )
            )
        except (HTTPXWSException, httpx.HTTPError) as exc:
            msg = f"could not connect to the kernel's websocket ({type(exc).__name__})"
            raise KernelError(msg, hub=self._server.url) from None

    async def _send(self, msg_type: str, content: dict[str, Any], channel: str) -> str:
        if self._ws is None or self._factory is None:
            msg = "the kernel is not running (start it, or use it as a context manager)"
            raise KernelError(msg, hub=self._server.url)
        msg_id, frame = self._factory.message(msg_type, content, channel)
        try:
            await self._ws.send_text(frame)
        except (HTTPXWSException, httpx.HTTPError) as exc:
            msg = f"the kernel's connection ended ({type(exc).__name__})"
            raise KernelError(msg, hub=self._server.url) from None
        return msg_id

    async def _receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            text = await self._ws.receive_text(timeout=left)
        except (TimeoutError, queue.Empty):  # the async session's timeout, the sync one's
            return None
        except (HTTPXWSException, httpx.HTTPError) as exc:
            msg = f"the kernel's connection ended ({type(exc).__name__}): did the kernel die?"
            raise KernelError(msg, hub=self._server.url) from None
        try:
            message = json.loads(text)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    async def _request(self, msg_type: str, content: dict[str, Any], *, timeout: float) -> Any:
        """Send a shell request and return its reply's content."""
        msg_id = await self._send(msg_type, content, "shell")
        deadline = time.monotonic() + timeout
        reply_type = msg_type.replace("_request", "_reply")
        while (message := await self._receive(deadline)) is not None:
            if _parent(message) == msg_id and _type(message) == reply_type:
                return message.get("content")
        msg = f"the kernel did not answer {msg_type} within {timeout:g} s"
        raise KernelError(msg, hub=self._server.url)

    async def execute(
        self, code: str, *, timeout: float | None = None, allow_errors: bool = False
    ) -> ExecutionResult:
        """Run `code`; what it printed and displayed, and its last value. When it raises,
        `ExecutionError` (unless `allow_errors`: then the result's `error`). Past `timeout`
        seconds the kernel is interrupted and `ExecutionTimeout` raised."""
        return await self._execute(code, timeout=timeout, allow_errors=allow_errors, cell=None)

    async def _execute(
        self, code: str, *, timeout: float | None, allow_errors: bool, cell: int | None
    ) -> ExecutionResult:
        msg_id = await self._send("execute_request", execute_request(code), "shell")
        outputs = Outputs()
        idle = replied = False
        deadline = time.monotonic() + timeout if timeout is not None else float("inf")
        while not (idle and replied):
            message = await self._receive(min(deadline, time.monotonic() + 3600))
            if message is None:
                if time.monotonic() < deadline:
                    continue  # an hour of silence with no timeout set: keep waiting
                await self._interrupt_and_settle(msg_id)
                raise ExecutionTimeout(timeout or 0.0, cell=cell, hub=self._server.url)
            if _parent(message) != msg_id:
                continue
            kind, content = _type(message), message.get("content") or {}
            if message.get("channel") == "iopub":
                if kind == "status":
                    state = content.get("execution_state")
                    idle = state == "idle"
                    if state == "dead":
                        raise KernelError("the kernel died", hub=self._server.url)
                else:
                    outputs.iopub(kind, content)
            elif message.get("channel") == "shell" and kind == "execute_reply":
                replied = True
                if content.get("execution_count") is not None:
                    outputs.result.execution_count = content["execution_count"]
        result = outputs.result
        if result.error is not None and not allow_errors:
            error = ExecutionError(
                result.error["ename"],
                result.error["evalue"],
                [strip_ansi(line) for line in result.error["traceback"]],
                cell=cell,
                source=code,
                hub=self._server.url,
            )
            error.result = result
            raise error
        return result

    async def _interrupt_and_settle(self, msg_id: str) -> None:
        """Interrupt, then wait (briefly) for the interrupted execution to end."""
        await self.interrupt()
        deadline = time.monotonic() + INTERRUPT_GRACE
        while (message := await self._receive(deadline)) is not None:
            if _parent(message) == msg_id and _type(message) == "execute_reply":
                return

    async def interrupt(self) -> None:
        if self.id is not None:
            await self._server.call(
                "POST", f"api/kernels/{quote(self.id)}/interrupt", "interrupt the kernel",
                ok=frozenset({200, 204}),
            )  # fmt: skip

    async def shutdown(self) -> None:
        """Shut the kernel down and close the connection (no error if it is gone already).

        The kernel goes first, so that the server stops sending; then what the connection's
        reader still holds is taken, so that a reader blocked on its full queue (messages of
        other clients of this kernel, never read) is free to end: closing never hangs."""
        if self.id is not None:
            kernel_id, self.id = self.id, None
            with contextlib.suppress(Exception):  # a session that is gone has no kernel left
                await self._server.call(
                    "DELETE", f"api/kernels/{quote(kernel_id)}", "shut the kernel down",
                    ok=frozenset({200, 204, 404}),
                )  # fmt: skip
        await self._drain()
        with contextlib.suppress(Exception):
            await self._stack.aclose()  # no exception passed in: httpx-ws wraps none
        self._ws = None

    async def _drain(self) -> None:
        if self._ws is None:
            return
        for _ in range(DRAIN_LIMIT):
            try:
                await self._ws.receive(timeout=0)
            except Exception:  # noqa: BLE001 - empty (either twin's way), or closed: done
                return

    async def __aenter__(self) -> Self:
        if self.id is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.shutdown()


def _parent(message: dict[str, Any]) -> Any:
    parent = message.get("parent_header")
    return parent.get("msg_id") if isinstance(parent, dict) else None


def _type(message: dict[str, Any]) -> Any:
    header = message.get("header")
    return header.get("msg_type") if isinstance(header, dict) else message.get("msg_type")


publish(__name__)
