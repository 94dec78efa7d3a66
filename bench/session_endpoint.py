"""Load on the server extension's `GET /binderfed/session` in a real `jupyter server`, with
the same load on `GET /api/status` (the server's cheapest built-in endpoint) as a reference.

    python bench/session_endpoint.py [--clients 50] [--requests 40] [--period 0.5] [--no-cache]

The server runs in its own process on 127.0.0.1 (random port, a token, a Binder-like
environment, the extension enabled by a config file of its own), stopped by PID. Each client
is an `httpx.AsyncClient` sending its requests one after another; latency is measured per
request on the client. Targets for the extension: p50 <= 5 ms, p99 <= 25 ms, 0 errors.

Three loads: `closed` (every client sends its next request as soon as the last one is
answered: 50 requests always in flight, so the figures are mostly queueing in the server's
single event loop, whatever the endpoint: latency = clients / throughput), `paced` (each
client sends one request every `--period` seconds, 100 per second together by default: a
busy but unsaturated server; a status bar polls far less often) and `single` (one client:
the cost of one request, end to end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import SESSION_ENV, JupyterServer, start_jupyter_server

TARGET_P50_MS = 5.0
TARGET_P99_MS = 25.0


def start_server(folder: Path, *, cache_seconds: float | None) -> JupyterServer:
    """The server with the extension enabled by a config file of its own."""
    config_dir = folder / "config"
    config_dir.mkdir(exist_ok=True)
    config: dict[str, object] = {"ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}}}
    if cache_seconds is not None:
        config["BinderFedApp"] = {"status_cache_seconds": cache_seconds}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    return start_jupyter_server(
        folder,
        env={**SESSION_ENV, "JUPYTER_CONFIG_DIR": str(config_dir)},
        args=["--ServerApp.log_level=WARN"],
        ready_path="binderfed/session",
    )


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # ms
    errors: int = 0
    elapsed: float = 0.0

    def line(self, label: str, *, check: bool) -> str:
        times = sorted(self.latencies)
        if not times:
            return f"{label}: no answers, {self.errors} errors"
        p50 = statistics.median(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        rate = len(times) / self.elapsed if self.elapsed else 0.0
        text = (
            f"{label}: p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {times[-1]:6.2f} ms  "
            f"errors {self.errors}  ({len(times)} answers, {rate:,.0f}/s)"
        )
        if check:
            ok = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS and self.errors == 0
            text += "  OK" if ok else "  OVER TARGET"
        return text


async def load(
    url: str, token: str, *, clients: int, requests: int, period: float | None
) -> Result:
    """`clients` clients, `requests` each; back to back (`period` None) or one every
    `period` seconds per client (started at random offsets)."""
    result = Result()
    headers = {"Authorization": f"token {token}"}

    async def client() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            await http.get(url)  # connect and warm up; not measured
            if period is not None:
                await asyncio.sleep(random.uniform(0, period))
            next_at = time.perf_counter()
            for _ in range(requests):
                started = time.perf_counter()
                try:
                    answer = await http.get(url)
                    ok = answer.status_code == 200 and answer.content.startswith(b"{")
                except httpx.HTTPError:
                    ok = False
                if ok:
                    result.latencies.append((time.perf_counter() - started) * 1000)
                else:
                    result.errors += 1
                if period is not None:
                    next_at += period
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.elapsed = time.perf_counter() - started
    return result


async def run(server: JupyterServer, clients: int, requests: int, period: float) -> None:
    endpoints = [
        ("/binderfed/session", "binderfed/session", True),
        ("/api/status", "api/status", False),
    ]
    loads = [
        (f"closed, {clients} clients x {requests}", clients, requests, None),
        (
            f"paced, {clients} clients x {requests}, 1 per {period:g} s each",
            clients,
            requests,
            period,
        ),
        ("single client x 400", 1, 400, None),
    ]
    for title, count, each, pace in loads:
        print(f"-- {title}")
        for label, path, check in endpoints:
            result = await load(
                server.url + path, server.token, clients=count, requests=each, period=pace
            )
            print("  " + result.line(f"{label:<20}", check=check))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--period", type=float, default=0.5, help="paced: seconds per request")
    parser.add_argument(
        "--no-cache", action="store_true", help="status_cache_seconds=0: read at every request"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder), cache_seconds=0.0 if args.no_cache else None)
        try:
            cache = "0 s (every request reads)" if args.no_cache else "default (1 s)"
            print(
                f"jupyter server pid {server.process.pid} at {server.url}; "
                f"status_cache_seconds {cache}; targets for /binderfed/session: "
                f"p50 <= {TARGET_P50_MS} ms, p99 <= {TARGET_P99_MS} ms, 0 errors"
            )
            asyncio.run(run(server, args.clients, args.requests, args.period))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
