"""How long one SessionInfo reading takes: cgroup files and a status dict (the server
extension's path), against the 1 ms target; and the psutil fallback's path (no cgroup files).

    python bench/session_info.py [--readings 2000]

The cgroup files are written in the kernel's v2 format into a temporary folder; this
machine's own cgroup files are read too when it has them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from binderfed_sdk.insession._memory import find_cgroup
from binderfed_sdk.insession._reader import SessionInfoReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import SESSION_ENV

if TYPE_CHECKING:
    from collections.abc import Callable

TARGET_MS = 1.0
MIB = 1 << 20


def write_cgroup_v2(folder: Path) -> None:
    (folder / "memory.current").write_text(f"{812 * MIB}\n")
    (folder / "memory.max").write_text(f"{2048 * MIB}\n")
    (folder / "memory.stat").write_text(
        "".join(
            f"{key} {value}\n"
            for key, value in [
                ("anon", 700 * MIB), ("file", 112 * MIB), ("kernel", 9 * MIB),
                ("kernel_stack", 1 * MIB), ("pagetables", 3 * MIB), ("sec_pagetables", 0),
                ("percpu", 0), ("sock", 0), ("vmalloc", 0), ("shmem", 0), ("zswap", 0),
                ("zswapped", 0), ("file_mapped", 40 * MIB), ("file_dirty", 0),
                ("file_writeback", 0), ("swapcached", 0), ("anon_thp", 0), ("file_thp", 0),
                ("shmem_thp", 0), ("inactive_anon", 690 * MIB), ("active_anon", 10 * MIB),
                ("inactive_file", 80 * MIB), ("active_file", 32 * MIB), ("unevictable", 0),
                ("slab_reclaimable", 2 * MIB), ("slab_unreclaimable", 1 * MIB),
                ("slab", 3 * MIB), ("workingset_refault_anon", 0),
            ]
        )
    )  # fmt: skip
    (folder / "cpu.stat").write_text(
        "usage_usec 812345678\nuser_usec 700000000\nsystem_usec 112345678\n"
        "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n"
    )


def median_ms(read: Callable[[], object], count: int) -> tuple[float, float]:
    """Median and 99th percentile of `count` calls, in milliseconds (after a warm-up)."""
    for _ in range(min(50, count)):
        read()
    times = []
    for _ in range(count):
        started = time.perf_counter_ns()
        read()
        times.append((time.perf_counter_ns() - started) / 1e6)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=2000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    status = {
        "started": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "last_activity": (now - timedelta(minutes=3)).isoformat().replace("+00:00", "Z"),
        "kernels": 1,
        "connections": 1,
    }
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_cgroup_v2(root)
        reader = SessionInfoReader(
            environ=SESSION_ENV, cgroup_root=root, proc_cgroup="", status=status
        )
        info = reader.read()
        assert info.memory_source == "cgroup-v2"
        p50, p99 = median_ms(reader.read, args.readings)
        verdict = "OK" if p50 <= TARGET_MS else "OVER TARGET"
        print(
            f"cgroup v2 files + status dict: median {p50:.3f} ms, p99 {p99:.3f} ms over "
            f"{args.readings} readings (target <= {TARGET_MS} ms median: {verdict})"
        )
        with_json = median_ms(lambda: reader.read().model_dump_json(), args.readings)
        print(
            f"  ... and serialized to JSON (the endpoint's body): median {with_json[0]:.3f} ms, "
            f"p99 {with_json[1]:.3f} ms"
        )

    layout = find_cgroup()
    if layout is not None:
        own = SessionInfoReader(environ=SESSION_ENV, status=status)
        p50, p99 = median_ms(own.read, args.readings)
        print(
            f"this machine's cgroup v{layout.version} files ({layout.memory_dir}): "
            f"median {p50:.3f} ms, p99 {p99:.3f} ms"
        )
    else:
        print("this machine has no cgroup memory files")

    fallback = SessionInfoReader(
        environ=SESSION_ENV, cgroup_root=None, status=status, process_root=os.getpid()
    )
    info = fallback.read()
    assert info.memory_source == "process-tree"
    count = max(1, args.readings // 10)
    p50, p99 = median_ms(fallback.read, count)
    print(
        f"psutil fallback (no cgroup files; this process's tree): median {p50:.3f} ms, "
        f"p99 {p99:.3f} ms over {count} readings"
    )


if __name__ == "__main__":
    main()
