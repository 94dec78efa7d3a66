"""Fixtures the TypeScript tests read, made by the Python side so that the two cannot drift:

- js/src/__tests__/duration-vectors.json: `format_duration` (the one formatter) on the
  seconds the status bar's countdown twin must write the same way;
- js/src/__tests__/bytes-vectors.json: `format_bytes` on the sizes the popup's list of changed
  files writes with its twin (unit edges, and exact halves: Python rounds them to even);
- js/src/__tests__/session-answers.json: the server extension's answers (`SessionInfo`
  JSON, display strings and levels included) for the cases the jest tests use.

tests/test_display.py fails when a fixture is stale; rewrite them with

    python tests/ts_fixtures.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from binderfed_sdk._format import format_bytes, format_duration
from binderfed_sdk.federation._limits import SessionLimits
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._rules import StopWindow

JS = Path(__file__).resolve().parent.parent / "js"
FIXTURES = JS / "src/__tests__"
GIB, MIB = 1 << 30, 1 << 20
NOW = datetime(2024, 5, 1, 10, 31, tzinfo=UTC)

#: the edges of each form (seconds, minutes, hours), fractions and negatives (rounded down)
EDGES = [
    -5, -0.5, 0, 0.4, 0.999, 1, 9.99, 59, 59.5, 59.999, 60, 60.2, 61, 65, 95, 119.9, 120,
    599, 599.99, 600, 601, 659.9, 660, 699.6, 700, 1500, 2520, 2579, 3540, 3599, 3599.999,
    3600, 3601, 3659, 3660, 3725, 11_130, 21_600, 86_399, 86_400, 90_061.5, 360_000,
]  # fmt: skip


def duration_vectors() -> dict[str, str]:
    """Seconds (as JSON keys) -> text: the edges, then every 37 s up to two hours."""
    return {repr(value): format_duration(value) for value in [*EDGES, *range(0, 7200, 37)]}


#: the edges of each unit, exact halves (ties), a few negatives
BYTE_EDGES = [
    0, 0.5, 1, 1.5, 2.5, 999, 1000, 1023, 1023.4, 1023.5, 1023.6, 1024, 1025, 1535, 1536, 1537,
    2560, 3584, 10_240, 102_400, 1_048_575, 1_048_576, 1_572_864, 2_621_440, 104_857_600,
    209_715_200, 471_859_200, 1_073_741_823, 1_073_741_824, 1_181_116_006, 1_342_177_280,
    1_879_048_192, 2_147_483_648, 10 * GIB * 1024, 2**53, -1, -0.4, -1536, -1_342_177_280,
]  # fmt: skip


def bytes_vectors() -> dict[str, str]:
    """Bytes (as JSON keys) -> text: the edges, quarters of a GiB and halves of a MiB and a KiB
    (ties of the rounding), then a geometric sweep up to a few TiB."""
    ties = [
        *(m * GIB / 4 for m in range(1, 41)),
        *(m * MIB / 2 for m in range(1, 41)),
        *(m * 1024 / 2 for m in range(1, 41)),
    ]
    sweep = [round(1.37**k) for k in range(100)]
    return {repr(value): format_bytes(value) for value in [*BYTE_EDGES, *ties, *sweep]}


def session(**fields: Any) -> SessionInfo:
    """A reading in a mybinder.org session on gesis, 42 min before its age limit."""
    base: dict[str, Any] = {
        "in_binder": True,
        "member": "gesis",
        "member_source": "image-registry",
        "federation": "mybinder.org",
        "repo_url": "https://github.com/binder-examples/requirements",
        "ref": "abc123",
        "persistent_link": "https://mybinder.org/v2/gh/binder-examples/requirements/abc123",
        "latest_link": "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD",
        "launch_host": "https://mybinder.org/",
        "started": datetime(2024, 5, 1, 4, 43, tzinfo=UTC),
        "last_activity": datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
        "now": NOW,
        "idle_seconds_left": 3540.0,
        "max_age_seconds_left": 2520.0,
        "seconds_left": 2520.0,
        "seconds_left_latest": 2520.0 + 660.0,
        "cull_reason": "max-age",
        "cull_window": 600.0,
        "memory_used": int(0.6 * GIB),
        "memory_source": "cgroup-v2",
        "memory_limit": 2 * GIB,
        "memory_guarantee": 450 * MIB,
        "cpu_limit": 1.0,
        "limits": SessionLimits(idle_timeout=3600, max_age=21_600, cpu_seconds=None),
    }
    return SessionInfo(**{**base, **fields})


def session_answers() -> dict[str, Any]:
    """The answers the jest tests use, by name, as the server extension sends them."""
    cases = {
        "max-age": session(),
        # mybinder.org: a 10 min idle timeout, 9 min 50 s left; 2 min before a stop is danger
        "idle": session(
            limits=SessionLimits(idle_timeout=600, max_age=21_600, cpu_seconds=None),
            idle_seconds_left=590.0,
            seconds_left=590.0,
            # the hub's culler checks every 660 s and learns of activity every 300 s
            seconds_left_latest=590.0 + 300.0 + 660.0,
            cull_reason="idle",
        ),
        "memory-warning": session(memory_used=int(1.7 * GIB)),
        # mybinder.org with a kernel open, idle for 8 min 30 s: the kernel culler stops it
        # in 1 min 30 s (the session goes on), the server stops itself 10 min after that
        "idle-kernel": session(
            limits=SessionLimits(max_age=21_600, cpu_seconds=None),
            idle_seconds_left=690.0,
            server_idle_seconds_left=690.0,
            seconds_left=690.0,
            seconds_left_latest=810.0,
            cull_reason="server-idle",
            kernels=1,
            kernel_stop=StopWindow(reason="kernel", earliest=90.0, latest=150.0),
        ),
        "no-stop": session(seconds_left=None, cull_reason=None, max_age_seconds_left=None),
        "outside": SessionInfo(
            in_binder=False,
            reason="no BINDER_* environment variables",
            now=NOW,
            cull_window=600.0,
            memory_used=300 * MIB,
            limits=SessionLimits(),
        ),
    }
    return {name: info.model_dump(mode="json") for name, info in cases.items()}


FIXTURE_FILES = {
    "duration-vectors.json": duration_vectors,
    "bytes-vectors.json": bytes_vectors,
    "session-answers.json": session_answers,
}


def write() -> None:
    for name, make in FIXTURE_FILES.items():
        (FIXTURES / name).write_text(json.dumps(make(), indent=2, ensure_ascii=False) + "\n")
    # as the TypeScript lint wants them (prettier --check runs on every .json)
    prettier = JS / "node_modules/.bin/prettier"
    node = shutil.which("node")
    if prettier.exists() and node:
        files = [str(FIXTURES / name) for name in FIXTURE_FILES]
        subprocess.run([str(prettier), "--write", *files], cwd=JS, check=True, timeout=120)


if __name__ == "__main__":
    write()
