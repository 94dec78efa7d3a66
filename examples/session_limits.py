"""Inside a Binder session: which member runs it, how long before it is stopped, and memory
used against the limit.

    python examples/session_limits.py [--json]

Run it in a terminal or a notebook of a Binder session (outside one it says so, and still
shows the memory in use). It reads the environment and the cgroup files directly and asks
the Jupyter server it runs under for its activity record when it is a kernel.
"""

from __future__ import annotations

import sys

from binderfed_sdk._format import format_bytes, format_duration
from binderfed_sdk.insession._reader import read_session_info

WHY = {"idle": "if nothing runs", "max-age": "session age limit", "cpu": "CPU-time budget"}


def main() -> int:
    info = read_session_info()
    if "--json" in sys.argv[1:]:
        print(info.model_dump_json(indent=2))
        return 0
    if not info.in_binder:
        print(f"Not in a Binder session: {info.reason}")
    else:
        print(f"member:      {info.member or 'unknown'} ({info.member_source or 'no source'})")
        print(f"federation:  {info.federation}")
        print(f"repository:  {info.repo_url} at {info.ref}")
        if info.persistent_link:
            print(f"relaunch:    {info.persistent_link}")
        if info.seconds_left is None:
            print("time left:   unknown (the Jupyter server's activity was not read)")
        else:
            late = format_duration(info.cull_window)
            why = WHY.get(info.cull_reason or "", "")
            print(f"time left:   {format_duration(info.seconds_left)} ({why}; up to {late} later)")
        for label, value in (
            ("idle", info.idle_seconds_left),
            ("max age", info.max_age_seconds_left),
            ("cpu", info.cpu_seconds_left),
        ):
            if value is not None:
                print(f"  {label + ':':<10} {format_duration(value)}")
    used, limit = info.memory_used, info.memory_limit
    against = f" of {format_bytes(limit)} ({used / limit:.0%})" if used and limit else ""
    print(
        f"memory:      {format_bytes(used)}{against or ' used, no limit known'}"
        f" [{info.memory_source or 'unknown source'}]"
    )
    if info.memory_level != "ok" or info.time_level != "ok":
        print(f"warning:     memory {info.memory_level}, time {info.time_level}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
