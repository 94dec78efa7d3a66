"""Import cost, side by side with what the SDK builds on, and the in-session reader's cost.

- bare import: `import binderfed_sdk` against `import httpx, pydantic`;
- hub client in use (target <= 1.2x): `from binderfed_sdk import BinderHub` against
  `import httpx, httpx_sse; from pydantic import BaseModel`;
- in-session reader (target <= 30 ms, no httpx loaded): `read_session_info()`, imported and
  called, timed inside the interpreter (outside Binder, with no Jupyter server to ask).

Each statement runs in a fresh interpreter, interleaved, RUNS times; medians are compared.
The interpreters write and read bytecode in a temporary cache, as an installed package (whose
bytecode pip compiled) would: with PYTHONDONTWRITEBYTECODE set, the SDK's modules would be
compiled on every run while httpx's and pydantic's were not, and the bench would time the
compiler.

    python bench/import_time.py [RUNS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

HUB_TARGET = 1.2
READER_TARGET_MS = 30.0

PAIRS = {
    "bare import": ("import httpx, pydantic", "import binderfed_sdk"),
    "hub client in use": (
        "import httpx, httpx_sse; from pydantic import BaseModel",
        "from binderfed_sdk import BinderHub",
    ),
}

READER = """
import sys, time
started = time.perf_counter()
from binderfed_sdk import read_session_info
info = read_session_info()
elapsed = time.perf_counter() - started
print(elapsed, "httpx" in sys.modules, info.in_binder)
"""


def run(statement: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", statement],
        check=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def once(statement: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    run(statement, env)
    return time.perf_counter() - started


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runtime:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # no Jupyter server for the reader to find: it would ask it over HTTP
        env.update(PYTHONPYCACHEPREFIX=cache, JUPYTER_RUNTIME_DIR=runtime)
        env.pop("JPY_PARENT_PID", None)
        for statement in ("pass", READER, *(s for pair in PAIRS.values() for s in pair)):
            run(statement, env)  # warm up: compile the bytecode once
        startup = statistics.median(once("pass", env) for _ in range(5))
        print(f"python startup alone: {startup * 1000:.1f} ms (included in the import figures)")
        print(f"{'':28}{'baseline':>12}{'binderfed':>12}{'ratio':>8}")
        ratios = {}
        for label, (baseline, ours) in PAIRS.items():
            base_times, our_times = [], []
            for _ in range(runs):  # interleaved, so drift hits both alike
                base_times.append(once(baseline, env))
                our_times.append(once(ours, env))
            base, mine = statistics.median(base_times), statistics.median(our_times)
            ratios[label] = mine / base
            print(f"{label:28}{base * 1000:>9.1f} ms{mine * 1000:>9.1f} ms{mine / base:>7.2f}x")
        for label, (baseline, ours) in PAIRS.items():
            print(f"  {label}: {ours!r} vs {baseline!r}")

        reader_times, httpx_loaded = [], False
        for _ in range(runs):
            elapsed, loaded, _in_binder = run(READER, env).split()
            reader_times.append(float(elapsed))
            httpx_loaded |= loaded == "True"
        reader_ms = statistics.median(reader_times) * 1000
    hub_ratio = ratios["hub client in use"]
    print(
        f"in-session reader (import + read_session_info(), in-process): {reader_ms:.1f} ms;"
        f" httpx loaded: {'yes' if httpx_loaded else 'no'}"
    )
    print(
        f"targets: hub client {hub_ratio:.2f}x (<= {HUB_TARGET}x:"
        f" {'ok' if hub_ratio <= HUB_TARGET else 'MISSED'}),"
        f" reader {reader_ms:.1f} ms (<= {READER_TARGET_MS:.0f} ms without httpx:"
        f" {'ok' if reader_ms <= READER_TARGET_MS and not httpx_loaded else 'MISSED'})"
        f" (median of {runs})"
    )


if __name__ == "__main__":
    main()
