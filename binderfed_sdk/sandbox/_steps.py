"""Bounded build steps: each a process group of its own, with an overall deadline.

A build step (git, the environment, the installer, postBuild, repo2docker's detection) may
start processes of its own (a postBuild's background job, the installer's workers). So each
step runs in a new process group; when its deadline passes, or when the build is cancelled
(the client went away), the whole group is killed (`os.killpg`), not only its first process.
Output is read in chunks, never a whole step's output in memory, and forwarded line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from binderfed_sdk._format import format_duration

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = ["BuildError", "StepResult", "kill_group", "run_pipe", "run_step"]

#: lines of a failed step's output quoted in its `failed` message
TAIL = 12
#: a longer line is cut (an installer's progress bar without newlines, a minified file)
MAX_LINE = 4000
_CHUNK = 64 * 1024


class BuildError(Exception):
    """Ends a build with a `failed` event (`status_code` only where BinderHub sends one)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class StepResult:
    code: int
    #: the last lines of output (stdout and stderr together)
    tail: tuple[str, ...]
    #: stdout when captured
    output: bytes = b""


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _lines(
    stream: asyncio.StreamReader, on_line: Callable[[str], Awaitable[None]] | None
) -> deque[str]:
    """Read `stream` to its end in chunks; each line (`\\n` or `\\r` ended) to `on_line`."""
    tail: deque[str] = deque(maxlen=TAIL)
    pending = ""
    while chunk := await stream.read(_CHUNK):
        text = pending + chunk.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        *lines, pending = text.split("\n")
        if len(pending) > MAX_LINE:  # no newline in sight: cut it here
            lines.append(pending)
            pending = ""
        for line in lines:
            line = line[:MAX_LINE]  # noqa: PLW2901 - the cut line is the line
            tail.append(line)
            if on_line is not None:
                await on_line(line)
    if pending:
        tail.append(pending[:MAX_LINE])
        if on_line is not None:
            await on_line(pending[:MAX_LINE])
    return tail


async def _read_all(stream: asyncio.StreamReader, limit: int) -> bytes:
    """Everything up to the end of `stream`, or the first `limit` bytes of it."""
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := await stream.read(min(_CHUNK, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _timeout_error(what: str, timeout: float) -> BuildError:
    return BuildError(
        f"Build failed: {what} did not finish within {format_duration(timeout)}; "
        "it was stopped with every process it started"
    )


async def run_step(
    command: Sequence[str],
    *,
    what: str,
    timeout: float,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    max_output: int = 4 * 1024 * 1024,
) -> StepResult:
    """Run one step in a process group of its own and wait for it, for at most `timeout` s.

    Output lines (stdout and stderr, or stderr only with `capture`, which returns stdout,
    at most `max_output` bytes) go to `on_line`. On timeout: BuildError; on cancellation:
    the group is killed and the cancellation goes on. The group is killed in every case,
    so nothing a step started in the background outlives it.
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if capture else asyncio.subprocess.STDOUT,
        process_group=0,  # a group of its own, whose id is the process's
    )
    assert process.stdout is not None  # noqa: S101
    try:
        async with asyncio.timeout(timeout):
            if capture:
                assert process.stderr is not None  # noqa: S101
                out_task = asyncio.ensure_future(_read_all(process.stdout, max_output + 1))
                tail = await _lines(process.stderr, on_line)
                output = await out_task
                if len(output) > max_output:
                    msg = f"Build failed: {what} wrote more than {max_output} bytes"
                    raise BuildError(msg)
            else:
                tail, output = await _lines(process.stdout, on_line), b""
            code = await process.wait()
    except TimeoutError:
        raise _timeout_error(what, timeout) from None
    finally:
        kill_group(process.pid)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            # reaped in bounded time: SIGKILL cannot be ignored
            await asyncio.shield(process.wait())
    return StepResult(code, tuple(tail), output)


async def run_pipe(
    first: Sequence[str], second: Sequence[str], *, what: str, timeout: float
) -> None:
    """`first | second`, streamed through a pipe (nothing held in memory), both in one
    process group, for at most `timeout` s; BuildError naming the one that failed."""
    read_end, write_end = os.pipe()
    try:
        # the consumer first, leading the group: it cannot end before the producer runs (this
        # process still holds the pipe's write end), so the group exists when the producer
        # joins it (a group whose processes are all gone cannot be joined)
        consumer = await asyncio.create_subprocess_exec(
            *second, stdin=read_end, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, process_group=0,
        )  # fmt: skip
        try:
            producer = await asyncio.create_subprocess_exec(
                *first, stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
                stderr=asyncio.subprocess.PIPE, process_group=consumer.pid,
            )  # fmt: skip
        except BaseException:
            kill_group(consumer.pid)
            await asyncio.shield(consumer.wait())
            raise
    finally:  # only the children hold the pipe now: the consumer sees its end
        os.close(read_end)
        os.close(write_end)
    processes = (producer, consumer)
    try:
        async with asyncio.timeout(timeout):
            results = await asyncio.gather(*(p.communicate() for p in processes))
    except TimeoutError:
        raise _timeout_error(what, timeout) from None
    finally:
        kill_group(consumer.pid)
        for process in processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await asyncio.shield(process.wait())
    for process, command, (_, err) in zip(processes, (first, second), results, strict=True):
        if process.returncode != 0:
            text = err.decode(errors="replace").strip()[-2000:]
            msg = f"Build failed: {what}: `{Path(command[0]).name}` exited {process.returncode}"
            raise BuildError(f"{msg}\n{text}" if text else msg)
