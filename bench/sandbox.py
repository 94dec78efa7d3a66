"""The sandbox federation: start-up time, and cached launches through the redirector.

1. `sandbox up` with 2 members until the redirector reports both healthy (target <= 20 s).
2. ROUNDS cached launches of the demo repository to `ready` through the redirector, taking
   turns: the SDK (`Federation("sandbox").launch(..., via_redirector=True)`) and a raw
   httpx client that follows the 307 and reads the same event stream until `ready`.
   Median and p95 of each, and the SDK's overhead against raw (target <= 5 %).
   Every session is shut down right after `ready`.

Runs in its own state folder and stops everything it started (by PID) at the end.

    python bench/sandbox.py [ROUNDS]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

import httpx

from binderfed_sdk import Session
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.sandbox import manager

SPEC = "gh/binderfed/demo/HEAD"


def sdk_launch(fed: Federation) -> float:
    started = time.perf_counter()
    session = fed.launch(SPEC, via_redirector=True)
    elapsed = time.perf_counter() - started
    session.shutdown()
    return elapsed


def raw_launch(redirector: str) -> float:
    started = time.perf_counter()
    ready: dict[str, str] = {}
    with (
        httpx.Client(follow_redirects=True, timeout=60) as client,
        client.stream(
            "GET", redirector + "build/" + SPEC, headers={"Accept": "text/event-stream"}
        ) as response,  # fmt: skip
    ):
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event.get("phase") == "ready":
                    ready = event
                    break
    elapsed = time.perf_counter() - started
    Session(ready["url"], ready["token"]).shutdown()
    return elapsed


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.environ[manager.ENV_DIR] = tempfile.mkdtemp(prefix="binderfed-bench-")
    started = time.perf_counter()
    state = manager.up(manager.SandboxSettings(members=2))
    up_seconds = time.perf_counter() - started
    verdict = "ok" if up_seconds <= 20 else "OVER"
    print(f"sandbox up, 2 members, all healthy: {up_seconds:.1f} s (target <= 20 s): {verdict}")
    try:
        with Federation("sandbox") as fed:
            fed.launch(SPEC, via_redirector=True).shutdown()  # build once: the rest is cached
            sdk, raw = [], []
            for _ in range(rounds):
                sdk.append(sdk_launch(fed))
                raw.append(raw_launch(state.redirector_url))
        for name, times in (("sdk", sdk), ("raw", raw)):
            print(
                f"{name} cached launch to ready via the redirector: median "
                f"{statistics.median(times):.2f} s, p95 {p95(times):.2f} s ({rounds} launches)"
            )
        overhead = statistics.median(sdk) / statistics.median(raw) - 1
        verdict = "ok" if overhead <= 0.05 else "OVER"
        print(f"sdk overhead against raw: {overhead:+.1%} (target <= 5 %): {verdict}")
    finally:
        manager.down()


if __name__ == "__main__":
    main()
