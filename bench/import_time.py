"""Import cost: `import binderfed_sdk` against `import httpx, pydantic`, side by side.

Each statement runs in a fresh interpreter, interleaved, RUNS times; medians are compared.
A second pair compares what a script that builds and launches really loads: the SDK's hub
client against httpx plus pydantic's BaseModel.

    python bench/import_time.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

PAIRS = {
    "bare import (target <= 1.2x)": ("import httpx, pydantic", "import binderfed_sdk"),
    "hub client in use": (
        "import httpx, httpx_sse; from pydantic import BaseModel",
        "from binderfed_sdk import BinderHub",
    ),
}


def once(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    baseline_python = statistics.median(once("pass") for _ in range(5))
    print(f"python startup alone: {baseline_python * 1000:.1f} ms (included in every figure)")
    for label, (baseline, ours) in PAIRS.items():
        base_times, our_times = [], []
        for _ in range(runs):  # interleaved, so drift hits both alike
            base_times.append(once(baseline))
            our_times.append(once(ours))
        base, mine = statistics.median(base_times), statistics.median(our_times)
        print(
            f"{label}:\n  {baseline!r}: {base * 1000:.1f} ms\n  {ours!r}: {mine * 1000:.1f} ms"
            f"\n  ratio {mine / base:.2f}x (median of {runs})"
        )


if __name__ == "__main__":
    main()
