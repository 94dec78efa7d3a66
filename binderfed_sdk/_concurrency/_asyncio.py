"""The asyncio half of `binderfed_sdk._concurrency`: what the async clients run on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias, TypeVar, overload

from binderfed_sdk._concurrency._grace import DEFAULT_GRACE

__all__ = ["AsyncJob", "async_checkpoint", "async_interruptible", "async_run_all", "async_sleep"]

T = TypeVar("T")
AsyncJob: TypeAlias = Callable[[], Awaitable[T]]


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def async_checkpoint() -> None:
    """Nothing to do: asyncio delivers a cancellation at every `await` that waits."""


@asynccontextmanager
async def async_interruptible() -> AsyncIterator[None]:
    """Nothing to do: `asyncio.run` already turns Ctrl-C into a cancellation of its task."""
    yield


@overload
async def async_run_all(jobs: Sequence[AsyncJob[T]], *, grace: float = ...) -> list[T]: ...
@overload
async def async_run_all(
    jobs: Sequence[AsyncJob[T]], *, timeout: float, grace: float = ...
) -> list[T | None]: ...
async def async_run_all(
    jobs: Sequence[AsyncJob[T]], *, timeout: float | None = None, grace: float = DEFAULT_GRACE
) -> list[T | None] | list[T]:
    """Run every job at once (see the module's docstring)."""
    tasks = [asyncio.ensure_future(job()) for job in jobs]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        pending = set(tasks)
        while pending and not any(_async_failed(task) for task in tasks):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            _, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_EXCEPTION
            )
    except BaseException:  # cancelled: every job stops and unwinds before this one goes on
        await _async_stop(tasks, grace)
        raise
    await _async_stop(tasks, grace)  # the late ones, or the siblings of a failed one
    for task in tasks:
        error = task.exception() if task.done() and not task.cancelled() else None
        if error is not None:
            raise error
    return [task.result() if task.done() and not task.cancelled() else None for task in tasks]


def _async_failed(task: asyncio.Future[Any]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is not None


async def _async_stop(tasks: Sequence[asyncio.Future[Any]], grace: float) -> None:
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running, timeout=grace)
