"""The sandbox federation: start-up time, and cached launches through the redirector.

1. `sandbox up` with 2 members until the redirector reports both healthy (target <= 20 s).
2. ROUNDS cached launches of the demo repository to `ready` through the redirector, taking
   turns: the SDK (`Federation("sandbox").launch(..., via_redirector=True)`) and a raw
   httpx client that follows the 307 and reads the same event stream until `ready`.
   Median and p95 of each, and the SDK's overhead against raw (target <= 5 %).
   Every session is shut down right after `ready`.
3. A cold build of a repository's environment with a few real requirements (`requests`,
   `rich`, `pyyaml`), with uv and with pip side by side, through the build service's own
   steps (`BuildService.create_environment` and `.install`): not layered over this Python's
   packages (so nothing is "already satisfied"), empty installer caches in temporary
   folders, the same index for both. Target: uv <= 0.3x pip.

Runs in its own state folder and stops everything it started (by PID) at the end.

    python bench/sandbox.py [ROUNDS]      # all three
    python bench/sandbox.py --cold-build   # the third only
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import httpx

from binderfed_sdk import Session
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.sandbox import manager

SPEC = "gh/binderfed/demo/HEAD"
COLD_REQUIREMENTS = ["requests", "rich", "pyyaml"]
INDEX = os.environ.get("BENCH_INDEX_URL", "https://pypi.org/simple")


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


def cold_build(installer: Literal["uv", "pip"]) -> float:
    """Seconds to create an environment and install COLD_REQUIREMENTS into it, from empty
    caches (the build service's own steps, without the layering over this Python)."""
    from binderfed_sdk.sandbox.builder import BuilderConfig, BuildService

    with tempfile.TemporaryDirectory(prefix=f"binderfed-cold-{installer}-") as folder:
        root = Path(folder)
        config = BuilderConfig(
            member="bench", port=1, hub_api_url="http://127.0.0.1:1/hub/api/",
            hub_public_url="http://127.0.0.1:1/", hub_token=secrets.token_hex(8), launch_host="http://127.0.0.1:1/",
            repos_dir=str(root / "repos"), cache_dir=str(root / "cache"), registry="bench",
            secret=secrets.token_hex(8), installer=installer, pip_args=["--index-url", INDEX],
        )  # fmt: skip
        service = BuildService(config)
        service.base = {}  # nothing counts as installed: everything is downloaded

        async def ignore(_event: dict[str, Any]) -> None:
            return

        async def build() -> None:
            try:
                await service.create_environment(root / "env", ignore)
                await service.install(
                    COLD_REQUIREMENTS, root, root / "env", ignore, label="requirements"
                )
            finally:
                await service.hub.aclose()

        started = time.perf_counter()
        asyncio.run(build())
        return time.perf_counter() - started


def cold_builds(rounds: int = 3) -> None:
    uv_times, pip_times = [], []
    for _ in range(rounds):  # taking turns, so a slow moment of the index hits both
        uv_times.append(cold_build("uv"))
        pip_times.append(cold_build("pip"))
    uv_s, pip_s = statistics.median(uv_times), statistics.median(pip_times)
    print(f"cold build of {' '.join(COLD_REQUIREMENTS)} from {INDEX}, empty caches, "
          f"median of {rounds}:")  # fmt: skip
    print(f"  uv  {uv_s:.2f} s  ({', '.join(f'{t:.2f}' for t in uv_times)})")
    print(f"  pip {pip_s:.2f} s  ({', '.join(f'{t:.2f}' for t in pip_times)})")
    ratio = uv_s / pip_s
    verdict = "ok" if ratio <= 0.3 else "OVER"
    print(f"  uv / pip: {ratio:.2f}x (target <= 0.3x): {verdict}")


def main() -> None:
    if sys.argv[1:] == ["--cold-build"]:
        cold_builds()
        return
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
    cold_builds()


if __name__ == "__main__":
    main()
