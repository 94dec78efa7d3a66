"""`binderfed history`, and what `launch` says about where a launch's time went.

mybinder.org's FAQ explains a launch's time in three nested steps: 1 the image is built (only
when the ref changed) >> 2 it is pulled onto the node (the first time that node serves it)
>> 3 the server starts (always). `launch_summary` says it in one line (`build: cached · pull
45 s · server 3 s · total 51 s on hetzner-gesis`), `explain_launch` step by step with what
would avoid each next time, `after_launch` prints either and appends the launch to the local
history (`binderfed_sdk.history`), which `binderfed history` shows per repository and member.

Durations are `_format.format_duration`'s words; everything read from the history file or
sent by a hub goes through `printable` before it reaches the terminal.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk._format import format_duration
from binderfed_sdk.cli._progress import print_table, printable

if TYPE_CHECKING:
    import argparse

    from binderfed_sdk.federation._routing import RoutingPolicy
    from binderfed_sdk.history._store import LaunchRecord
    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._session import Session
    from binderfed_sdk.hub._timeline import Timeline
    from binderfed_sdk.spec._spec import Spec

EXIT_OK, EXIT_USAGE = 0, 2
SEP = " · "
DESCRIPTION = (
    "Past launches from the local history (launches per repository and member: how many, how "
    "many were built, the fastest and the last). The history is a JSON Lines file in the "
    "user's cache folder ($BINDERFED_HISTORY_FILE to move it, BINDERFED_HISTORY=0 to turn it "
    "off); it holds no tokens."
)


# --- one launch ------------------------------------------------------------------------------


def _member(timeline: Timeline, member: str | None) -> str:
    return printable(member or timeline.member or "?")


def launch_summary(timeline: Timeline, member: str | None = None) -> str:
    """`build: cached · pull 45 s · server 3 s · total 51 s on hetzner-gesis`."""
    parts: list[str] = []
    if timeline.build == "cached":
        parts.append("build: cached")
    elif timeline.build == "built":
        parts.append(f"build {format_duration(timeline.build_time)}")
    if timeline.waiting >= 1:
        parts.insert(0, f"waiting {format_duration(timeline.waiting)}")
    if timeline.told_apart:
        pull = "pull: on the node" if timeline.pull_on_node is False else None
        parts.append(pull or f"pull {format_duration(timeline.pull)}")
        parts.append(f"server {format_duration(timeline.server)}")
    elif timeline.has("launching"):
        parts.append(f"launching {format_duration(timeline.launch_time)}")
    parts.append(f"total {format_duration(timeline.total)} on {_member(timeline, member)}")
    return SEP.join(parts)


def explain_launch(
    timeline: Timeline, member: str | None = None, spec: Spec | str | None = None
) -> str:
    """Which of the FAQ's three steps happened, how long each took, and what would avoid
    them next time."""
    where = _member(timeline, member)
    target = printable(str(spec)) if spec is not None else "this ref"
    commit = f" ({printable(timeline.commit[:12])})" if timeline.commit else ""
    lines = [
        (
            "Where the time went (mybinder.org's FAQ: 1 build, only when the ref changed >> "
            "2 pull onto the node, the first time that node serves it >> 3 server start, always):"
        )
    ]
    advice: list[str] = []
    if timeline.waiting >= 1:
        lines.append(f"  queued      {format_duration(timeline.waiting)} before the build started")
    if timeline.build == "built":
        lines.append(
            f"  1 build     {format_duration(timeline.build_time)}: this commit{commit} had no "
            f"image on {where} yet, so it was built"
        )
        advice.append(
            f"prime this ref on every member before a workshop (`binderfed prime {target}`): "
            "then no launch waits for a build; and push changes well before, since a new "
            "commit is built again"
        )
    elif timeline.build == "cached":
        lines.append(f"  1 build     skipped: the image of this commit{commit} was found built")
    else:
        lines.append("  1 build     unknown: the hub did not say")
    if timeline.pull_on_node is True:
        lines.append(
            f"  2 pull      {format_duration(timeline.pull)}: the image was pulled onto the node "
            "(the first time that node serves it)"
        )
        advice.append(
            "a launch soon after on the same member often finds the image on the node; "
            "priming every member ahead of time pulls it there too"
        )
    elif timeline.pull_on_node is False:
        lines.append("  2 pull      skipped: the image was already on the node")
    if timeline.told_apart:
        lines.append(
            f"  3 server    {format_duration(timeline.server)}: the server started "
            "(every launch pays this)"
        )
    elif timeline.has("launching"):
        lines.append(
            f"  2+3 launch  {format_duration(timeline.launch_time)}: pull onto the node and "
            "server start (the hub's messages do not tell them apart)"
        )
    lines.append(f"  total       {format_duration(timeline.total)} on {where}")
    if not advice:
        advice.append(
            "nothing to avoid: only the server start, which every launch pays (a smaller "
            "environment starts faster)"
        )
    lines.append("Next time:")
    lines.extend(f"  - {text}" for text in advice)
    return "\n".join(lines)


def timeline_json(timeline: Timeline, member: str | None = None) -> dict[str, Any]:
    """The timeline for `--json` (the member by its name when known)."""
    data = timeline.model_dump(mode="json")
    if member:
        data["member"] = member
    return data


def after_launch(
    session: Session | AsyncSession,
    out: TextIO,
    *,
    spec: Spec | None = None,
    policy: RoutingPolicy | None = None,
    explain: bool = False,
    record: bool = True,
) -> LaunchRecord | None:
    """What `launch` and `sandbox launch` do after `ready`: print the one line (or, with
    `explain`, the explanation) and append the launch to the history (unless `record` is
    False or `BINDERFED_HISTORY=0`). Returns the record written, if any."""
    from binderfed_sdk.history import record_launch

    timeline = session.timeline
    if timeline is not None:
        text = explain_launch(timeline, session.member, spec or session.spec)
        out.write((text if explain else launch_summary(timeline, session.member)) + "\n")
    if not record or timeline is None:
        return None
    return record_launch(session, spec=spec, policy=policy)


# --- `binderfed history` ---------------------------------------------------------------------


def add_history_parser(commands: Any) -> argparse.ArgumentParser:
    """The `history` subcommand on `commands` (the `binderfed` parser's subparsers)."""
    history = commands.add_parser(
        "history", help="past launches per repository and member", description=DESCRIPTION
    )
    history.add_argument(
        "target", nargs="?", help="only this repository (a spec, repository URL or Binder link)"
    )
    history.add_argument("--json", action="store_true", help="print the records as JSON")
    history.add_argument(
        "--file",
        help="the history file (default: $BINDERFED_HISTORY_FILE, else "
        "<cache>/binderfed/history.jsonl)",
    )
    return history  # type: ignore[no-any-return]


def _ago(at: datetime, now: datetime) -> str:
    return f"{format_duration((now - at).total_seconds())} ago"


def history_rows(records: list[LaunchRecord], now: datetime) -> list[list[str]]:
    """One row per repository and member, newest last launch first."""
    groups: dict[tuple[str, str], list[LaunchRecord]] = defaultdict(list)
    for r in records:
        groups[(r.repo, r.member or "?")].append(r)
    rows: list[tuple[datetime, list[str]]] = []
    for (repo, member), group in groups.items():
        ready = [r for r in group if r.ready and r.timeline is not None]
        built = sum(1 for r in ready if r.timeline is not None and r.timeline.build == "built")
        fastest = min((r.timeline.total for r in ready if r.timeline is not None), default=None)
        last = max(group, key=lambda r: r.at)
        summary = launch_summary(last.timeline, member) if last.timeline is not None else ""
        rows.append(
            (
                last.at,
                [
                    printable(repo),
                    printable(member),
                    str(len(group)),
                    str(built),
                    format_duration(fastest),
                    printable((last.commit or "?")[:12]),
                    _ago(last.at, now),
                    summary,
                ],
            )
        )
    rows.sort(key=lambda item: item[0], reverse=True)
    return [row for _, row in rows]


def run_history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk._errors import SpecError
    from binderfed_sdk.federation._routing import routing_key
    from binderfed_sdk.history import History
    from binderfed_sdk.spec import parse_target

    key: str | None = None
    if args.target:
        try:
            spec, _ = parse_target(args.target)
        except SpecError as error:
            err.write(f"binderfed history: {printable(str(error))}\n")
            return EXIT_USAGE
        key = routing_key(spec.build_path)
    store = History(args.file, enabled=True)  # reading: even when recording is off
    records = [r for r in store.records() if key is None or r.key == key]
    if args.json:
        data = [r.model_dump(mode="json", exclude_none=True) for r in records]
        out.write(json.dumps({"file": str(store.path), "launches": data}) + "\n")
        return EXIT_OK
    if not records:
        what = f" of {printable(args.target)}" if args.target else ""
        out.write(f"no launches{what} in the history ({printable(str(store.path))})\n")
        return EXIT_OK
    header = ["repository", "member", "launches", "built", "fastest", "commit", "last", "how"]
    print_table(out, header, history_rows(records, datetime.now(UTC)), right={"launches", "built"})
    return EXIT_OK
