"""Running code in a session: the SDK's notebook execution against nbclient's, side by side,
and the websocket round trip of a trivial `execute`.

    python bench/run.py [--cells 20] [--runs 5] [--round-trips 200]

The session is a real `jupyter server` on 127.0.0.1 (what a Binder or sandbox session runs),
already up: what is measured is the execution after launch. Each run of either side starts
its own kernel of the same kind (python3 from this environment) and executes the same
20-cell notebook; nbclient runs its kernel locally over ZeroMQ, the SDK through the server's
kernel websocket. Targets: SDK / nbclient <= 1.3x (medians); trivial execute p50 <= 5 ms.

As a reference for the round trip, the same kernel (started by the server) is also driven
directly over ZeroMQ with jupyter_client, from its connection file: the difference is what the
server's websocket path adds, which no client can remove.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import start_jupyter_server

from binderfed_sdk import Session

TARGET_RATIO = 1.3
TARGET_P50_MS = 5.0


def make_notebook(cells: int) -> Any:
    nb: Any = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    sources = ["import math\ntotal = 0"]
    for index in range(1, cells):
        kind = index % 4
        if kind == 0:
            sources.append(f"total += sum(math.sqrt(i) for i in range({index} * 1000))\ntotal")
        elif kind == 1:
            sources.append(f"print('cell {index}', total)")
        elif kind == 2:
            sources.append(f"data = list(range({index * 100}))\nlen(data)")
        else:
            sources.append(
                "from IPython.display import display, Markdown\ndisplay(Markdown('**x**'))"
            )
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]  # type: ignore[no-untyped-call]
    return nb


def nbclient_run(nb: Any) -> float:
    copy = nbformat.from_dict(nb)  # type: ignore[no-untyped-call]
    started = time.perf_counter()
    NotebookClient(copy, timeout=60, kernel_name="python3").execute()
    return time.perf_counter() - started


def sdk_run(session: Session, nb: Any) -> float:
    started = time.perf_counter()
    done = session.run_notebook(nb, timeout=60)
    elapsed = time.perf_counter() - started
    if not done.cells[1].outputs:
        msg = "the SDK's run produced no output"
        raise SystemExit(msg)
    return elapsed


def zmq_round_trips(runtime: Path, kernel_id: str, count: int) -> list[float]:
    """`execute("pass")` round trips straight to the kernel over ZeroMQ (ms)."""
    from jupyter_client.blocking.client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(30)
        trips = []
        for _ in range(count):
            started = time.perf_counter()
            client.execute_interactive("pass", timeout=10, output_hook=lambda _msg: None)
            trips.append((time.perf_counter() - started) * 1000)
        return trips
    finally:
        client.stop_channels()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--round-trips", type=int, default=200)
    args = parser.parse_args()
    nb = make_notebook(args.cells)
    with tempfile.TemporaryDirectory() as folder:
        runtime = Path(folder) / "runtime"
        server = start_jupyter_server(
            Path(folder) / "root",
            args=["--ServerApp.log_level=WARN"],
            env={"JUPYTER_RUNTIME_DIR": str(runtime)},
        )
        try:
            with Session(server.url, server.token) as session:
                session.stopped = True  # the bench stops the server itself
                sdk_run(session, nb)  # warm-up: imports, first kernel of each side
                nbclient_run(nb)
                sdk: list[float] = []
                local: list[float] = []
                for _ in range(args.runs):  # interleaved: both sides see the same machine
                    sdk.append(sdk_run(session, nb))
                    local.append(nbclient_run(nb))
                with session.kernel() as kernel:
                    kernel.execute("pass")
                    trips = []
                    for _ in range(args.round_trips):
                        started = time.perf_counter()
                        kernel.execute("pass")
                        trips.append((time.perf_counter() - started) * 1000)
                    direct = zmq_round_trips(runtime, kernel.id or "", args.round_trips)
        finally:
            server.stop()
    ratio = statistics.median(sdk) / statistics.median(local)
    p50, p99 = percentile(trips, 0.5), percentile(trips, 0.99)
    print(f"{args.cells}-cell notebook, {args.runs} runs each, a new kernel per run")
    print(f"SDK (server websocket)   median {statistics.median(sdk):.3f} s  "
          f"(runs {', '.join(f'{t:.3f}' for t in sdk)})")  # fmt: skip
    print(f"nbclient (local kernel)  median {statistics.median(local):.3f} s  "
          f"(runs {', '.join(f'{t:.3f}' for t in local)})")  # fmt: skip
    verdict = "OK" if ratio <= TARGET_RATIO else "MISSED"
    print(f"SDK / nbclient = {ratio:.2f}x  target <= {TARGET_RATIO}x  {verdict}")
    verdict = "OK" if p50 <= TARGET_P50_MS else "MISSED"
    target = f"target p50 <= {TARGET_P50_MS} ms  {verdict}"
    print(f"trivial execute round trip: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({args.round_trips} executes)  {target}")  # fmt: skip
    print(f"reference, the same kernel over ZeroMQ (jupyter_client): p50 "
          f"{percentile(direct, 0.5):.2f} ms, p99 {percentile(direct, 0.99):.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
