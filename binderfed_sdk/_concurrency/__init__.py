"""Concurrency in pairs: each primitive once on asyncio, for the async clients, and once on
threads, for their sync twins (generated from the async source by `.ci/unasync.py`, which
renames `async_run_all` to `run_all` and
`_concurrency._asyncio` to `_concurrency._threads`). The logic using them is written once.

The two halves keep the same promises:

- `run_all(jobs)` runs every job at once and returns their results in order. If one job
  raises, the others are stopped and the error is raised. With `timeout=`, a job not done by
  then is stopped and its result is None: it never delays the answer.
- An interruption stops every job, waits (up to `grace` seconds) for each one to unwind, so that
  its `with` blocks close its streams and shut down its sessions, then propagates: task
  cancellation as `CancelledError` (`asyncio.run` turns Ctrl-C into one), Ctrl-C in a sync
  caller's main thread as `KeyboardInterrupt`.

A thread cannot be stopped from outside, so a sync job is stopped cooperatively: `checkpoint()`
(called for every chunk a stream receives) and `sleep()` raise `Cancelled` in a job whose
group stopped it. A job blocked in a read that never returns a chunk ends at its own timeout.

Ctrl-C in the sync twin: Python raises `KeyboardInterrupt` wherever the main thread happens to
be, and when that is a finalizer (a `__del__`, a generator closed by the garbage collector, a
weakref callback) the exception is printed as "ignored" and lost: the operation would carry on
as if Ctrl-C had never been pressed. So while `interruptible()` is active, Ctrl-C only sets a
flag (as `asyncio.run` does in its place), and the main thread raises `KeyboardInterrupt`
itself, from a known place, after stopping the jobs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from binderfed_sdk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._asyncio import (
        AsyncJob,
        async_checkpoint,
        async_interruptible,
        async_run_all,
        async_sleep,
    )
    from ._threads import Cancelled, Job, checkpoint, interruptible, run_all, sleep

_EXPORTS = {
    "AsyncJob": "._asyncio",
    "Cancelled": "._threads",
    "Job": "._threads",
    "async_checkpoint": "._asyncio",
    "async_interruptible": "._asyncio",
    "async_run_all": "._asyncio",
    "async_sleep": "._asyncio",
    "checkpoint": "._threads",
    "interruptible": "._threads",
    "run_all": "._threads",
    "sleep": "._threads",
}
__all__ = [
    "AsyncJob",
    "Cancelled",
    "Job",
    "async_checkpoint",
    "async_interruptible",
    "async_run_all",
    "async_sleep",
    "checkpoint",
    "interruptible",
    "run_all",
    "sleep",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
