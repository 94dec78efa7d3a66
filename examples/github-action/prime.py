"""Check a repository for Binder, then prime every current mybinder.org member with a commit.

The GitHub Action in this folder runs it on push: `binderfed doctor` first (a repository that
cannot build, or whose Binder links are broken, is not worth priming), then the member list is
read from the front door's `/active_hosts` at run time, so it never goes stale when members
join or leave, and the pushed commit is built on each member at once. binderfed's client asks
each member's `/build/` for its event stream (`Accept: text/event-stream`), builds only where
the hub allows it, and otherwise launches and shuts the session down at once: no session is
left running, whatever happens.

    python prime.py [--path .] [--front-door https://mybinder.org] [--spec gh/<owner>/<repo>/<sha>]

Without `--spec`, the commit is `gh/$GITHUB_REPOSITORY/$GITHUB_SHA` (set by GitHub Actions).
Exit 0 when every member built it, 1 when the doctor found errors or a member failed.
"""

from __future__ import annotations

import argparse
import os
import sys

import binderfed_sdk as bf
from binderfed_sdk.doctor import diagnose


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=".", help="the checked-out repository (default: .)")
    parser.add_argument("--front-door", default="https://mybinder.org", help="the redirector")
    parser.add_argument("--spec", help="what to build (default: gh/$GITHUB_REPOSITORY/$GITHUB_SHA)")
    parser.add_argument("--skip-doctor", action="store_true", help="prime without checking first")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser.parse_args(argv)


def pushed_commit() -> str:
    repository = os.environ.get("GITHUB_REPOSITORY")
    sha = os.environ.get("GITHUB_SHA")
    if not repository or not sha:
        sys.exit("prime.py: no --spec, and GITHUB_REPOSITORY / GITHUB_SHA are not set")
    return f"gh/{repository}/{sha}"


def shown(text: str) -> str:
    """Text read from the repository's files, safe for a log (no control characters)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def doctor(path: str) -> bool:
    """Print the doctor's findings; False when there are errors."""
    report = diagnose(path)
    for finding in report.findings:
        print(
            f"{shown(finding.where())}: {finding.severity}: {shown(finding.message)}"
            f" [{finding.code}]"
        )
        if finding.fix:
            print(f"    fix: {shown(finding.fix)}")
    return not report.errors


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.skip_doctor and not doctor(args.path):
        print("prime.py: the doctor found errors; not priming")
        return 1
    spec = args.spec or pushed_commit()
    # one entry, the front door; `refresh` replaces it with the members it lists right now
    front = {
        "name": "front-door",
        "redirector": args.front_door,
        "hosts": {"front": {"url": args.front_door}},
    }
    with bf.Federation(front, timeout=args.timeout) as federation:
        members = federation.refresh().members
        print(f"priming {spec} on {', '.join(m.name for m in members)}")
        results = federation.prime(spec, include_unhealthy=True)
    for result in results:
        reason = f": {shown(result.reason)}" if result.reason else ""
        print(
            f"  {result.member}: {result.outcome} ({result.method}, {result.seconds:.1f} s){reason}"
        )
    return 0 if all(r.outcome == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
