"""Federation health probing: one slow or dead member never delays the answer.

Ten members answer after DELAY s each (real WireHubs in a child process) and an eleventh
never answers. The probe timeout is TIMEOUT s.

- with the dead member: total <= 1.1 x the timeout (target)
- without it: total <= 1.3 x the slowest member's delay (target)

Both the sync (threads) and async (asyncio) federations are measured in the same run. Each
federation probes ROUNDS times: the first probe is cold (new connections, first use of the
models); the target is checked on the median of the warm ones, and the cold figure printed
beside it.

    python bench/federation_probe.py [DELAY] [TIMEOUT]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from _server import wirehub_process

from binderfed_sdk.federation._async_client import AsyncFederation
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._config import load_federation


def members(urls: list[str]) -> dict[str, object]:
    hosts = {f"m{i}": {"url": url, "weight": 1, "prime": i == 0} for i, url in enumerate(urls)}
    return {"name": "bench", "hosts": hosts}


def sync_rounds(urls: list[str], timeout: float, rounds: int) -> list[tuple[float, int]]:
    """Probe times of `rounds` successive probes by one federation (the first one cold)."""
    times = []
    with Federation(load_federation(members(urls))) as fed:
        for _ in range(rounds):
            started = time.perf_counter()
            health = fed.health(timeout=timeout)
            times.append((time.perf_counter() - started, len(health.healthy)))
    return times


def async_rounds(urls: list[str], timeout: float, rounds: int) -> list[tuple[float, int]]:
    async def run() -> list[tuple[float, int]]:
        times = []
        async with AsyncFederation(load_federation(members(urls))) as fed:
            for _ in range(rounds):
                started = time.perf_counter()
                health = await fed.health(timeout=timeout)
                times.append((time.perf_counter() - started, len(health.healthy)))
        return times

    return asyncio.run(run())


def line(label: str, times: list[tuple[float, int]], unit: float, target: float) -> str:
    cold = times[0][0] / unit
    warm = statistics.median(seconds for seconds, _ in times[1:]) / unit
    verdict = "ok" if warm <= target else "OVER"
    healthy = times[-1][1]
    return (
        f"{label}: cold {cold:.2f}x, warm median {warm:.2f}x "
        f"({healthy} healthy; target <= {target:g}x): {verdict}"
    )


def main() -> None:
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    rounds = 4
    with wirehub_process([delay] * 10 + [3600.0]) as servers:
        healthy, dead = servers.urls[:10], servers.urls[10:]
        for name, probe in (("sync ", sync_rounds), ("async", async_rounds)):
            with_dead = probe(healthy + dead, timeout, rounds)
            print(
                line(
                    f"{name} 10 x {delay:g} s + 1 dead, vs timeout {timeout:g} s",
                    with_dead,
                    timeout,
                    1.1,
                )
            )
            all_healthy = probe(healthy, timeout, rounds)
            print(line(f"{name} 10 x {delay:g} s all healthy, vs slowest", all_healthy, delay, 1.3))


if __name__ == "__main__":
    main()
