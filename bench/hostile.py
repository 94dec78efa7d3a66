"""Each hostile answer of the test server against a client in a process of its own: the
client's peak RSS above an idle client's, and the time to the typed error.

    python bench/hostile.py

Targets (issue 10): peak RSS <= 64 MiB above an idle client's, time <= the configured limits
plus 1 s (with the default limits, every case here ends long before any timeout). The hostile
hubs run in one more process, so their memory is not counted; all are stopped by PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
TIMEOUT = 120  # seconds for any one child: the bench never hangs

_SERVER = """
import contextlib, json, sys
sys.path.insert(0, {tests!r})
from wirehub import WireHub, _hostile_bytes
for kind in ("gzip-bomb", "many-line-event", "deep"):
    _hostile_bytes(kind)  # made once, before any client waits for them
knobs = {knobs!r}
with contextlib.ExitStack() as stack:
    urls = {{}}
    for name, hostile in knobs.items():
        hub = stack.enter_context(WireHub(name=name, hold_open=0.0))
        hub.rate_limit = hub.rate_remaining = 10**9
        hub.hostile_json = hostile
        urls[name] = hub.url
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""

_CLIENT = """
import json, resource, sys, time
from binderfed_sdk import BinderFedError, BinderHub, Federation
case, urls = sys.argv[1], json.loads(sys.argv[2])
hub = BinderHub(urls["plain"])
members = {"hosts": {n: {"url": urls[n], "prime": n == "plain"} for n in ("plain", "deep")}}
fed = Federation(members)
hub.versions()  # warm: connections, models, the event validator
fed.health()
idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
calls = {
    "stream: gzip bomb": lambda: list(hub.build("gh/x/gzip-bomb/HEAD")),
    "stream: 64 MiB event in 1 KiB lines": lambda: list(hub.build("gh/x/many-line-event/HEAD")),
    "stream: 10 MiB line": lambda: list(hub.build("gh/x/huge-line/HEAD")),
    "stream: deep JSON event": lambda: list(hub.build("gh/x/deep-json/HEAD")),
    "/versions: 64 MiB": lambda: BinderHub(urls["huge"]).versions(),
    "/versions: gzip": lambda: BinderHub(urls["gzip"]).versions(),
    "/health: deep JSON": lambda: BinderHub(urls["deep"]).health(),
    "federation: one deep member": lambda: fed.health(),
}
started = time.perf_counter()
try:
    answer = calls[case]()
    outcome = "no error"
    if case.startswith("federation"):
        outcome = "healthy " + ",".join(answer.healthy) + "; deep: " + answer.members["deep"].reason
except BinderFedError as error:
    outcome = type(error).__name__
except Exception as error:
    outcome = "UNTYPED " + type(error).__name__
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "seconds": elapsed, "idle_kib": idle, "peak_kib": peak}))
"""

CASES = [
    "stream: gzip bomb",
    "stream: 64 MiB event in 1 KiB lines",
    "stream: 10 MiB line",
    "stream: deep JSON event",
    "/versions: 64 MiB",
    "/versions: gzip",
    "/health: deep JSON",
    "federation: one deep member",
]
KNOBS = {
    "plain": {},
    "huge": {"versions": "huge"},
    "gzip": {"versions": "gzip"},
    "deep": {"health": "deep", "versions": "deep"},
}


def main() -> int:
    server = subprocess.Popen(
        [sys.executable, "-c", _SERVER.format(tests=str(TESTS), knobs=KNOBS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    worst = 0.0
    try:
        urls = server.stdout.readline().strip()
        print(f"{'case':40} {'outcome':34} {'time':>8} {'peak RSS above idle':>20}")
        for case in CASES:
            child = subprocess.run(
                [sys.executable, "-c", _CLIENT, case, urls],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            if child.returncode != 0:
                print(f"{case:40} client failed: {child.stderr.strip().splitlines()[-1:]}")
                return 1
            row = json.loads(child.stdout)
            above = (row["peak_kib"] - row["idle_kib"]) / 1024
            worst = max(worst, above)
            print(f"{case:40} {row['outcome']:34} {row['seconds']:7.3f}s {above:16.1f} MiB")
    finally:
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    print(f"worst peak RSS above an idle client: {worst:.1f} MiB (target <= 64 MiB)")
    return 0 if worst <= 64 else 1


if __name__ == "__main__":
    sys.exit(main())
