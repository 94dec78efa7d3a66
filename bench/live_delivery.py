"""Live delivery: does each event reach the caller as soon as the server flushed it?

A WireHub in its own process sends N `building` events GAP ms apart (`tick-N-GAP`) and
records when each was flushed; the SDK's `BinderHub.build()` records when each arrived in
the caller's loop. Side by side, raw httpx-sse iteration of the same kind of stream gives
the floor that the network path and framing cost on their own.

Target: the SDK's worst delay <= 10 ms over 200 events (no buffering).

    python bench/live_delivery.py [N] [GAP_MS]
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx
from _server import wirehub_process
from httpx_sse import connect_sse

from binderfed_sdk import BinderHub


def sdk_arrivals(hub_url: str, spec: str) -> list[float]:
    with BinderHub(hub_url) as hub:
        return [time.perf_counter() for event in hub.build(spec) if event.phase == "building"]


def raw_arrivals(url: str) -> list[float]:
    arrivals = []
    with httpx.Client(timeout=60) as client, connect_sse(client, "GET", url) as source:
        for sse in source.iter_sse():
            if '"building"' in sse.data:
                arrivals.append(time.perf_counter())
            elif '"ready"' in sse.data:
                break
    return arrivals


def report(name: str, flushed: list[float], arrived: list[float]) -> float:
    assert len(flushed) == len(arrived), (name, len(flushed), len(arrived))
    delays = [(a - f) * 1000 for f, a in zip(flushed, arrived, strict=True)]
    print(
        f"{name:4} delay after flush over {len(delays)} events: "
        f"median {statistics.median(delays):.2f} ms, "
        f"p99 {sorted(delays)[int(len(delays) * 0.99) - 1]:.2f} ms, max {max(delays):.2f} ms"
    )
    return max(delays)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    gap = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    spec = f"gh/bench/tick-{n}-{gap}/HEAD"
    with wirehub_process() as server:
        sdk = sdk_arrivals(server.url, spec)
    with wirehub_process() as raw_server:
        raw = raw_arrivals(raw_server.url + "build/" + spec)
    raw_max = report("raw", raw_server.flush_times, raw)
    sdk_max = report("sdk", server.flush_times, sdk)
    verdict = "ok" if sdk_max <= 10 else "OVER"
    print(f"sdk worst {sdk_max:.2f} ms (raw worst {raw_max:.2f} ms); target <= 10 ms: {verdict}")


if __name__ == "__main__":
    main()
