"""The threads half of `binderfed_sdk._concurrency`: what the sync twins run on. It never
imports asyncio, so a script that only uses the sync clients does not pay for it."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from binderfed_sdk._concurrency._grace import DEFAULT_GRACE

if TYPE_CHECKING:
    import types

__all__ = ["Cancelled", "Job", "checkpoint", "interruptible", "run_all", "sleep"]

T = TypeVar("T")
Job: TypeAlias = Callable[[], T]
# how often the main thread looks at its Ctrl-C flag: `_thread.interrupt_main` (and a signal
# that arrives while another thread runs) only takes effect when the main thread runs Python
_POLL = 0.05


class Cancelled(BaseException):
    """Raised inside a sync job, at a checkpoint, once its group has stopped it (the twin of
    `asyncio.CancelledError`)."""


class _JobState(threading.local):
    stop: threading.Event | None = None


_job = _JobState()


def sleep(seconds: float) -> None:
    """`time.sleep`, cut short (with `Cancelled`) when the calling job is stopped."""
    stop = _job.stop
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise Cancelled


def checkpoint() -> None:
    """Raise `Cancelled` if the calling thread runs a job its group has stopped."""
    stop = _job.stop
    if stop is not None and stop.is_set():
        raise Cancelled


class _Interrupts:
    """Ctrl-C presses seen while `interruptible()` is active in the main thread."""

    def __init__(self) -> None:
        self.active = False
        self.count = 0

    def handler(self, _signum: int, _frame: types.FrameType | None) -> None:
        # never raises: a handler that runs inside a finalizer loses nothing
        self.count += 1


_interrupts = _Interrupts()


@contextmanager
def interruptible() -> Iterator[None]:
    """Within this block, Ctrl-C is noticed by `run_all` (and at the block's end) rather than
    raised wherever the main thread is; `KeyboardInterrupt` is raised all the same."""
    if (
        _interrupts.active
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # nested, in another thread, or Ctrl-C handled by the program: leave it be
        return
    _interrupts.active, _interrupts.count = True, 0
    previous = signal.signal(signal.SIGINT, _interrupts.handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupts.active = False
    if _interrupts.count:  # pressed after the last job ended: still honoured
        raise KeyboardInterrupt


def _interrupted(more_than: int = 0) -> bool:
    return _interrupts.active and _interrupts.count > more_than


@overload
def run_all(jobs: Sequence[Job[T]], *, grace: float = ...) -> list[T]: ...
@overload
def run_all(jobs: Sequence[Job[T]], *, timeout: float, grace: float = ...) -> list[T | None]: ...
def run_all(
    jobs: Sequence[Job[T]], *, timeout: float | None = None, grace: float = DEFAULT_GRACE
) -> list[T | None] | list[T]:
    """Run every job at once, one thread each (see the module's docstring)."""
    if not jobs:
        return []
    with interruptible():
        return _run_threads(jobs, timeout, grace)


def _run_threads(jobs: Sequence[Job[T]], timeout: float | None, grace: float) -> list[T | None]:
    stop, wake = threading.Event(), threading.Event()

    def run(job: Job[T]) -> T:
        _job.stop = stop
        try:
            return job()
        finally:
            _job.stop = None
            wake.set()

    deadline = None if timeout is None else time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="binderfed")
    futures = [pool.submit(run, job) for job in jobs]
    try:
        while True:
            wake.clear()  # before looking, so that a job ending meanwhile still wakes us
            if _interrupted():
                raise KeyboardInterrupt
            if all(f.done() for f in futures) or any(_failed(f) for f in futures):
                break
            remaining = _POLL if deadline is None else min(_POLL, deadline - time.monotonic())
            if remaining <= 0:
                break
            wake.wait(remaining)
        if any(_failed(f) for f in futures):
            stop.set()
            _wait(futures, wake, grace)
    except BaseException:  # Ctrl-C: every job stops and unwinds before this one goes on
        stop.set()
        _wait(futures, wake, grace)
        raise
    finally:
        # late jobs are told to stop and left to end at their own timeouts: a thread blocked
        # in a read cannot be stopped from outside
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
    for future in futures:
        error = future.exception() if _failed(future) else None
        if error is not None:
            raise error
    return [f.result() if f.done() and not _stopped(f) else None for f in futures]


def _failed(future: Future[Any]) -> bool:
    if not future.done() or future.cancelled():
        return False
    error = future.exception()
    return error is not None and not isinstance(error, Cancelled)


def _stopped(future: Future[Any]) -> bool:
    return future.cancelled() or isinstance(future.exception(), Cancelled)


def _wait(futures: Sequence[Future[Any]], wake: threading.Event, grace: float) -> None:
    """Wait up to `grace` seconds for every job to end; a second Ctrl-C stops waiting."""
    pressed = _interrupts.count
    deadline = time.monotonic() + grace
    while not all(f.done() for f in futures):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or _interrupted(more_than=pressed):
            return
        wake.clear()
        if all(f.done() for f in futures):
            return
        wake.wait(min(_POLL, remaining))
