"""Build and launch a repository, watch its live log, query the session, shut it down.

    python examples/launch_and_stop.py [SPEC-OR-URL] [HUB]

By default it launches binder-examples/requirements on mybinder.org (needs the internet).
"""

from __future__ import annotations

import sys

import binderfed_sdk as bf


def main() -> int:
    target = sys.argv[1] if len(sys.argv) > 1 else "gh/binder-examples/requirements/HEAD"
    hub_url = sys.argv[2] if len(sys.argv) > 2 else "https://mybinder.org"
    spec = bf.parse(target)
    print(f"launching {spec} on {hub_url}\n  share it: {spec.launch_url(hub_url)}")
    try:
        with bf.BinderHub(hub_url) as hub:
            session = hub.launch(spec, on_event=lambda e: print(f"  [{e.phase}] {e.log_line}"))
            with session:  # shuts the server down on the way out, whatever happens
                status = session.status()
                print(f"session {session.url} started {status.started:%H:%M:%S}")
                print(f"kernels {status.kernels}, connections {status.connections}")
    except bf.BuildFailed as error:
        print(f"build failed: {error}", *error.log[-5:], sep="\n  ", file=sys.stderr)
        return 1
    except bf.BinderFedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
