"""The work download (`GET /binderfed/download`) of a real `jupyter server`: 500 changed files
of 100 KB each, zipped and streamed; its time and the server's peak memory above idle.

    python bench/download.py [--files 500] [--size 100000] [--runs 3]

Targets: <= 2 s per download, <= 50 MiB peak RSS above the idle server. Side by side, as a
reference: the same files zipped by Python's zipfile into memory in this process (no HTTP, no
streaming), the floor of what any zip download costs. Half of the files are text (deflated),
half random bytes (deflated too: nothing in their names says they are compressed already,
the worst case for time).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import JupyterServer, start_jupyter_server

MIB = 1 << 20
TARGET_SECONDS = 2.0
TARGET_MIB = 50.0


def start_server(root: Path, config_dir: Path) -> JupyterServer:
    config_dir.mkdir(exist_ok=True)
    config = {"ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    return start_jupyter_server(
        root,
        env={"JUPYTER_CONFIG_DIR": str(config_dir)},
        args=["--ServerApp.log_level=WARN"],
        ready_path="binderfed/changes",
    )


def make_work(root: Path, files: int, size: int) -> None:
    words = [b"alpha", b"beta", b"gamma", b"delta", b"results", b"0.125", b"\n"]
    rng = random.Random(7)
    for index in range(files):
        folder = root / "work" / f"part{index // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        if index % 2:
            data = os.urandom(size)
        else:
            data = b" ".join(rng.choice(words) for _ in range(size // 5))[:size]
        (folder / f"file{index:04d}.dat").write_bytes(data)


class PeakRss:
    """The process's peak resident memory while it runs, sampled every 5 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def zip_in_memory(root: Path) -> float:
    started = time.perf_counter()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted((root / "work").rglob("*.dat")):
            archive.write(path, path.relative_to(root).as_posix())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "home"
        server = start_server(root, Path(folder) / "config")
        try:
            make_work(root, args.files, args.size)
            headers = {"Authorization": f"token {server.token}"}
            process = psutil.Process(server.process.pid)
            time.sleep(1.0)  # let the server settle after start-up
            idle = process.memory_info().rss
            times: list[float] = []
            peaks: list[float] = []
            with httpx.Client(timeout=60, headers=headers) as client:
                for _ in range(args.runs):
                    with PeakRss(server.process.pid) as peak:
                        started = time.perf_counter()
                        received = 0
                        names: list[str] = []
                        body = io.BytesIO()
                        with client.stream("GET", server.url + "binderfed/download") as answer:
                            answer.raise_for_status()
                            for chunk in answer.iter_bytes():
                                received += len(chunk)
                                body.write(chunk)
                        times.append(time.perf_counter() - started)
                    peaks.append((peak.peak - idle) / MIB)
                    with zipfile.ZipFile(body) as archive:
                        # the server's own log, in its root, is a changed file too
                        names = [n for n in archive.namelist() if n.startswith("work/")]
                    if len(names) != args.files:
                        msg = f"the zip holds {len(names)} files, not {args.files}"
                        raise SystemExit(msg)
            reference = statistics.median(zip_in_memory(root) for _ in range(args.runs))
        finally:
            server.stop()
    total = args.files * args.size / MIB
    median = statistics.median(times)
    worst_peak = max(peaks)
    print(f"{args.files} files x {args.size} B = {total:.1f} MiB, {args.runs} runs, idle RSS "
          f"{idle / MIB:.0f} MiB, zip {received / MIB:.1f} MiB")  # fmt: skip
    verdict = "OK" if median <= TARGET_SECONDS else "MISSED"
    print(f"download      median {median:.2f} s  (runs {', '.join(f'{t:.2f}' for t in times)})  "
          f"target <= {TARGET_SECONDS:.1f} s  {verdict}")  # fmt: skip
    print(f"peak RSS      +{worst_peak:.1f} MiB above idle (runs "
          f"{', '.join(f'{p:.1f}' for p in peaks)})  target <= {TARGET_MIB:.0f} MiB  "
          f"{'OK' if worst_peak <= TARGET_MIB else 'MISSED'}")  # fmt: skip
    print(f"reference     zipfile into memory, same files, in-process: {reference:.2f} s; "
          f"download / reference = {median / reference:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
