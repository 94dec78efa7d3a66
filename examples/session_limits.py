"""Inside a Binder session: which member runs it, how long before it is stopped, and memory
used against the limit.

    python examples/session_limits.py [--json]

Run it in a terminal or a notebook of a Binder session (outside one it says so, and still
shows the memory in use). It reads the environment and the cgroup files directly and asks
the Jupyter server it runs under for its activity record when it is a kernel.
"""

from __future__ import annotations

import sys

from binderfed_sdk._format import format_duration
from binderfed_sdk.insession._reader import read_session_info


def main() -> int:
    info = read_session_info()
    if "--json" in sys.argv[1:]:
        print(info.model_dump_json(indent=2))
        return 0
    display = info.display  # the words the widget and the status bar show too
    if not info.in_binder:
        print(f"Not in a Binder session: {info.reason}")
    else:
        print(f"member:      {display.member} ({info.member_source or 'no source'})")
        print(f"federation:  {info.federation}")
        print(f"repository:  {info.repo_url} at {info.ref}")
        if info.persistent_link:
            print(f"relaunch:    {info.persistent_link}")
        print(f"time left:   {display.time}")
        for label, value in (
            ("idle", info.idle_seconds_left),
            ("max age", info.max_age_seconds_left),
            ("cpu", info.cpu_seconds_left),
        ):
            if value is not None:
                print(f"  {label + ':':<10} {format_duration(value)}")
    memory = display.memory or "unknown"
    print(f"memory:      {memory} [{info.memory_source or 'unknown source'}]")
    for warning in display.warnings:
        print(f"warning:     {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
