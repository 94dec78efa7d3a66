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
import contextlib, json, sys
sys.path.insert(0, {tests!r})
from wirehub import WireHub
delays = {delays!r}
with contextlib.ExitStack() as stack:
    hubs = [stack.enter_context(WireHub(name=f"m{{i}}", hold_open=0.0)) for i in range(len(delays))]
    for hub, delay in zip(hubs, delays):
        hub.rate_limit = hub.rate_remaining = 10**9
        hub.delay = delay
    print(json.dumps([hub.url for hub in hubs]), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    print(json.dumps(hubs[0].flush_times), flush=True)
"""


@dataclass
class ServerProcess:
    urls: list[str]
    #: perf_counter() after each flushed event of `slow-*` / `tick-*` streams; set on exit
    flush_times: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.urls[0]


@contextlib.contextmanager
def wirehub_process(delays: list[float] | None = None) -> Iterator[ServerProcess]:
    """Yields WireHubs (one per entry of `delays`, each answering after that many seconds)
    running in a process of their own; stops it by PID on exit."""
    source = _CHILD.format(tests=str(TESTS), delays=delays or [0.0])
    child = subprocess.Popen(
        [sys.executable, "-c", source], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        first = child.stdout.readline().strip()
        if not first.startswith("["):
            msg = f"WireHub child did not start (said {first!r})"
            raise RuntimeError(msg)
        server = ServerProcess(json.loads(first))
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
