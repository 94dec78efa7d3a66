"""Run a WireHub in a child process, so the server never competes with the measured client
for the GIL. Started and stopped by PID.

`time.perf_counter()` is CLOCK_MONOTONIC on Linux, one clock for every process, so the
child's flush times compare directly with the parent's receive times.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

TESTS = Path(__file__).resolve().parent.parent / "tests"

_CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from wirehub import WireHub
with WireHub(hold_open=0.0) as hub:
    hub.rate_limit = hub.rate_remaining = 10**9
    print(hub.url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    print(json.dumps(hub.flush_times), flush=True)
"""


@dataclass
class ServerProcess:
    url: str
    #: perf_counter() after each flushed event of `slow-*` / `tick-*` streams; set on exit
    flush_times: list[float] = field(default_factory=list)


@contextlib.contextmanager
def wirehub_process() -> Iterator[ServerProcess]:
    """Yields a WireHub running in its own process; stops it by PID on exit."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(tests=str(TESTS))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        url = child.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            msg = f"WireHub child did not start (said {url!r})"
            raise RuntimeError(msg)
        server = ServerProcess(url)
        yield server
        child.stdin.close()
        server.flush_times = json.loads(child.stdout.readline() or "[]")
    finally:
        if not child.stdin.closed:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
