"""Stream throughput: typed SDK events/s against raw httpx-sse iteration of the same stream.

A WireHub on 127.0.0.1, in its own process, sends N `building` events and a `ready` as fast
as it can. Three readers take turns on the same stream, ROUNDS times; the best round of each
is kept:

- raw:        httpx-sse's `iter_sse()`, touching `sse.data` (framing only, no JSON)
- raw+json:   the same plus `json.loads(sse.data)`, the least any real consumer does
- sdk:        `BinderHub.build()`: typed, validated `BuildEvent`s with every guard on

Target: sdk / raw+json >= 0.8. sdk / raw is printed too.

    python bench/stream_throughput.py [N] [ROUNDS]
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import httpx
from _server import wirehub_process
from httpx_sse import connect_sse

from binderfed_sdk import BinderHub, StreamLimits

if TYPE_CHECKING:
    from collections.abc import Callable


def raw(url: str, *, decode: bool) -> int:
    count = 0
    with httpx.Client(timeout=60) as client, connect_sse(client, "GET", url) as source:
        for sse in source.iter_sse():
            count += 1
            if decode:
                if json.loads(sse.data).get("phase") == "ready":
                    break
            elif '"ready"' in sse.data:
                break
    return count


def sdk(hub_url: str, spec: str) -> int:
    count = 0
    limits = StreamLimits(idle_timeout=60, total_timeout=600)
    with BinderHub(hub_url, limits=limits, timeout=60) as hub:
        for _ in hub.build(spec):
            count += 1
    return count


def timed(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = run()
    return time.perf_counter() - started, count


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    spec = f"gh/bench/flood-{n}/HEAD"
    with wirehub_process() as server:
        server_url = server.url
        url = server_url + "build/" + spec
        readers: dict[str, Callable[[], int]] = {
            "raw": lambda: raw(url, decode=False),
            "raw+json": lambda: raw(url, decode=True),
            "sdk": lambda: sdk(server_url, spec),
        }
        best: dict[str, float] = {}
        for _ in range(rounds):
            for name, reader in readers.items():
                seconds, count = timed(reader)
                assert count == n + 1, (name, count)
                best[name] = min(best.get(name, float("inf")), seconds)
    rate = {name: (n + 1) / seconds for name, seconds in best.items()}
    for name in readers:
        print(f"{name:9} {rate[name]:>10,.0f} events/s  ({best[name]:.2f} s for {n + 1:,})")
    print(f"sdk / raw+json = {rate['sdk'] / rate['raw+json']:.2f}  (target >= 0.8)")
    print(f"sdk / raw      = {rate['sdk'] / rate['raw']:.2f}  (framing only, no JSON)")


if __name__ == "__main__":
    main()
