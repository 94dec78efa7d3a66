"""The `binderfed` command.

Exit codes: 0 ok, 1 the build or launch failed, 2 usage (bad arguments or spec),
3 the hub is unreachable or does not speak BinderHub, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk import __version__
from binderfed_sdk._errors import BinderFedError, BuildFailed, HubError, RateLimited

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.spec._spec import Spec

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_HUB = "https://mybinder.org"
MASK = "**********"  # a token not shown


class _HelpFormatter(argparse.HelpFormatter):
    """Fills `{federations}` and `{policies}` in help texts with the names registered now
    (entry points), looked up only when help is printed: each look-up costs ~30 ms."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text is None:
            return None
        if "{federations}" in text:
            from binderfed_sdk.federation._config import builtin_federations

            text = text.replace("{federations}", ", ".join(builtin_federations()))
        if "{policies}" in text:
            from binderfed_sdk.federation._routing import available_policies

            names = [f"{n}:NAME" if n == "pinned" else n for n in available_policies()]
            text = text.replace("{policies}", ", ".join(names))
        return text


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: subparsers are made of the parser's own class."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return _HelpFormatter(prog=self.prog)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="binderfed",
        description="Launch repositories on the Binder federation and make Binder links.",
        epilog="Exit codes: 0 ok, 1 build or launch failed, 2 usage, 3 hub unreachable.",
    )
    parser.add_argument("--version", action="version", version=f"binderfed {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def hub_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--hub",
            default=os.environ.get("BINDERFED_HUB", DEFAULT_HUB),
            help="the BinderHub URL (default: $BINDERFED_HUB or %(default)s)",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")

    link = commands.add_parser("link", help="launch link and badges for a repository or spec")
    link.add_argument("target", help="spec (gh/user/repo/ref), repository URL, DOI or Binder link")
    link.add_argument("--urlpath", help="what to open after launch, e.g. lab/tree/index.ipynb")
    link.add_argument(
        "--format",
        choices=("all", "url", "markdown", "rst", "html", "myst"),  # spec's BADGE_FORMATS
        default="all",
        help="print only the launch URL or one badge (default: all of them)",
    )
    hub_options(link)

    for name, text in (
        ("build", "build a repository, streaming its log"),
        ("launch", "build and launch a repository, printing the session"),
    ):
        sub = commands.add_parser(name, help=text)
        target = "spec, repository URL, DOI or Binder link"
        if name == "launch":
            target += "; with --federation sandbox also a local repository's folder"
        sub.add_argument("target", help=target)
        hub_options(sub)
        sub.add_argument("--build-token", help="a build token (from the /v2/ page)")
        sub.add_argument(
            "--idle-timeout",
            type=float,
            default=90.0,
            help="give up after this many silent seconds",
        )
        sub.add_argument(
            "--deadline", type=float, default=3600.0, help="give up after this many seconds in all"
        )
        if name == "build":
            sub.add_argument("--build-only", action="store_true", help="build without launching")
        else:
            fed_options(sub, with_json=False)
            sub.add_argument(
                "--via-redirector",
                action="store_true",
                help="with --federation: let its redirector choose the member",
            )
            sub.add_argument("--urlpath", help="what to open, e.g. lab/tree/index.ipynb")
            sub.add_argument("--show-token", action="store_true", help="print the session token")
            sub.add_argument(
                "--shutdown", action="store_true", help="stop the session right after it is ready"
            )
            sub.add_argument(
                "--explain",
                action="store_true",
                help="say which launch steps happened (build, image pull, server start) and "
                "what would avoid them next time",
            )

    hub = commands.add_parser("hub", help="health and versions of one hub")
    hub.add_argument("url", nargs="?", help="hub URL (default: --hub)")
    hub_options(hub)

    status = commands.add_parser("status", help="health of every member of a federation")
    fed_options(status)
    route = commands.add_parser("route", help="where a launch would go (dry run)")
    route.add_argument("target", help="spec, repository URL, DOI or Binder link")
    fed_options(route)
    route.add_argument(
        "--resolve", action="store_true", help="ask the federation's redirector instead"
    )
    prime = commands.add_parser("prime", help="build a repository on every member (warm caches)")
    prime.add_argument("target", help="spec, repository URL, DOI or Binder link")
    fed_options(prime)
    prime.add_argument("--members", help="comma-separated member names (default: all)")

    _add_module_parsers(commands)
    _add_sandbox_parser(commands)
    return parser


def _add_module_parsers(commands: Any) -> None:
    """The commands that live in modules of their own."""
    from binderfed_sdk.cli._doctor import add_doctor_parser
    from binderfed_sdk.cli._history import add_history_parser
    from binderfed_sdk.cli._run import add_run_parser
    from binderfed_sdk.cli._session import add_session_parser

    add_run_parser(commands, fed_options)
    add_session_parser(commands)
    add_doctor_parser(commands)
    add_history_parser(commands)


SANDBOX_DESCRIPTION = (
    "A local Binder federation on 127.0.0.1: per member a real JupyterHub "
    "(configurable-http-proxy, the real idle culler) and a BinderHub-compatible build service, "
    "behind a redirector with mybinder.org's rules. Other commands reach it with --federation "
    "sandbox. Several run side by side, each in its own state folder: --name NAME, or "
    "$BINDERFED_SANDBOX_DIR (a folder), or $BINDERFED_SANDBOX (a name), which --federation "
    "sandbox follows too."
)


def _add_sandbox_parser(commands: Any) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="a local Binder federation on 127.0.0.1 (launch your own repository)",
        description=SANDBOX_DESCRIPTION,
    )
    actions = sandbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    sandbox_up = actions.add_parser("up", help="start it (members, redirector), print the URLs")
    launch = actions.add_parser(
        "launch",
        help="build and launch a local git repository (starting the sandbox if needed)",
        description="Build and launch the git repository at PATH through the sandbox's "
        "redirector, as Binder would: its committed HEAD, another commit (--ref), or the "
        "files as they are now (--working-tree). The sandbox starts first if it is not "
        "running, and may build PATH from then on.",
    )
    demo = actions.add_parser(
        "demo", help="launch the demo repository (starting the sandbox if needed)"
    )
    status = actions.add_parser("status", help="is it running, and healthy")
    down = actions.add_parser("down", help="stop every process it started")
    for sub in (sandbox_up, launch, demo, status, down):
        sub.add_argument(
            "--name",
            help="which sandbox (its own state folder; default: $BINDERFED_SANDBOX_DIR, "
            "else $BINDERFED_SANDBOX, else the default sandbox)",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    for sub in (sandbox_up, launch, demo):
        group = sub.add_argument_group("when it starts the sandbox")
        group.add_argument("--members", type=int, default=2, help="number of members (1-8)")
        group.add_argument(
            "--idle-timeout", type=float, default=600, help="the culler stops idle sessions (s)"
        )
        group.add_argument(
            "--max-age", type=float, default=21600, help="the culler stops older sessions (s)"
        )
        group.add_argument("--cull-every", type=float, default=60, help="culler interval (s)")
        group.add_argument("--port", type=int, default=0, help="first port (default: any free)")
        group.add_argument(
            "--installer",
            choices=("uv", "pip"),
            default="uv",
            help="what installs a repository's requirements (default: %(default)s)",
        )
    sandbox_up.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="PATH",
        help="a local repository the sandbox may build (repeatable)",
    )
    launch.add_argument(
        "path", nargs="?", default=".", help="the repository's folder (default: the current one)"
    )
    which = launch.add_mutually_exclusive_group()
    which.add_argument("--ref", help="a commit-ish to launch (default: HEAD)")
    which.add_argument(
        "--working-tree",
        action="store_true",
        help="launch the files as they are now, uncommitted changes included",
    )
    for sub in (launch, demo):
        sub.add_argument(
            "--explain",
            action="store_true",
            help="say which launch steps happened and what would avoid them next time",
        )
        sub.add_argument("--urlpath", help="what to open, e.g. lab/tree/index.ipynb")
        sub.add_argument("--show-token", action="store_true", help="print the session token")
        sub.add_argument(
            "--down", action="store_true", help="stop the whole sandbox after printing the session"
        )


def fed_options(sub: argparse.ArgumentParser, *, with_json: bool = True) -> None:
    sub.add_argument(
        "--federation",
        default=None,
        help="member list: a built-in name ({federations}), a JSON file, or "
        "$BINDERFED_FEDERATION (sandbox: the one $BINDERFED_SANDBOX_DIR or "
        "$BINDERFED_SANDBOX selects)",
    )
    sub.add_argument(
        "--policy",
        default="weighted-random",
        help="routing policy: {policies} (default: %(default)s)",
    )
    sub.add_argument("--probe-timeout", type=float, help="seconds to wait for each member")
    if with_json:
        sub.add_argument("--json", action="store_true", help="machine-readable output")


def _spec(target: str) -> tuple[Spec, str | None]:
    """A spec and the urlpath a link or blob URL carries."""
    from binderfed_sdk._errors import SpecError
    from binderfed_sdk.spec._spec import parse_target

    try:
        return parse_target(target)
    except SpecError as error:
        if "parse_spec" not in str(error):
            raise
        # the SDK's text names a Python function; say it the command line's way
        msg = (
            f"{target!r} is not a spec (gh/<user>/<repo>/<ref>), repository URL, DOI, Binder "
            "link or absolute path (a local folder launches with --federation sandbox, or: "
            "binderfed sandbox launch PATH)"
        )
        raise SpecError(msg) from None


def _sandbox_target(target: str, say: Callable[[str], None]) -> str:
    """With --federation sandbox: a local folder becomes the spec of its repository's HEAD,
    and a local repository (a folder, or the file URL or path of a `git` spec) is allowed in
    the running sandbox (the one $BINDERFED_SANDBOX_DIR / $BINDERFED_SANDBOX selects)."""
    from urllib.parse import urlsplit

    from binderfed_sdk.sandbox import _local, manager

    path: str | None = None
    if Path(target).is_dir():
        local = _local.resolve(target)
        target, path = local.spec, local.path
    else:
        with contextlib.suppress(BinderFedError):
            spec, _ = _spec(target)
            # as the build service reads it: the spec's repo is decoded once already
            parts = urlsplit(spec.repo)
            on_disk = parts.scheme in {"", "file"} and parts.netloc in {"", "localhost"}
            if spec.provider == "git" and on_disk and parts.path:
                path = parts.path
    folder = manager.sandbox_dir()
    allowed = (
        path is not None
        and Path(path).is_dir()
        and manager.state_path(folder).is_file()  # else launching says none is running
        and manager.allow_repository(path, folder=folder)
    )
    if allowed:
        say(f"the sandbox in {folder} may build {os.path.realpath(str(path))} from now on")
    return target


def _cmd_link(args: argparse.Namespace, out: TextIO) -> int:
    spec, urlpath = _spec(args.target)
    urlpath = args.urlpath if args.urlpath is not None else urlpath
    url = spec.launch_url(args.hub, urlpath)
    from binderfed_sdk.spec._spec import BADGE_FORMATS

    badges = {fmt: spec.badge(fmt, hub=args.hub, urlpath=urlpath) for fmt in BADGE_FORMATS}
    if args.json:
        out.write(json.dumps({"spec": str(spec), "url": url, "badges": badges}) + "\n")
    elif args.format == "url":
        out.write(url + "\n")
    elif args.format in BADGE_FORMATS:
        out.write(badges[args.format] + "\n")
    else:
        out.write(f"spec      {spec}\nlaunch    {url}\n")
        for fmt, text in badges.items():
            out.write(f"\n{fmt}:\n{text}\n")
    return EXIT_OK


def _hub_client(args: argparse.Namespace) -> Any:
    from binderfed_sdk.hub._client import BinderHub
    from binderfed_sdk.hub._core import StreamLimits

    limits = StreamLimits(idle_timeout=args.idle_timeout, total_timeout=args.deadline)
    return BinderHub(args.hub, limits=limits)


def _cmd_build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk.cli._progress import ProgressPrinter

    spec, _ = _spec(args.target)
    printer = ProgressPrinter(out if args.json else err, as_json=args.json)
    with _hub_client(args) as hub:
        try:
            for event in hub.build(spec, build_only=args.build_only, build_token=args.build_token):
                printer(event)
        finally:
            printer.finish()
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk.cli._run import run_command

    def say(text: str) -> None:
        err.write(f"binderfed: {text}\n")

    def spec_of(target: str) -> Spec:
        if args.federation == "sandbox":
            target = _sandbox_target(target, say)
        return _spec(target)[0]

    return run_command(args, out, err, spec_of=spec_of)


def _cmd_launch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk.cli._progress import ProgressPrinter

    target = args.target
    if args.federation == "sandbox":

        def say(text: str) -> None:
            err.write(f"binderfed: {text}\n")

        target = _sandbox_target(target, say)
    spec, urlpath = _spec(target)
    urlpath = args.urlpath if args.urlpath is not None else urlpath
    printer = ProgressPrinter(
        out if args.json else err, as_json=args.json, show_token=args.show_token
    )
    if args.federation is not None:
        with _federation(args) as fed:

            def tagged(member: str, event: BuildEvent) -> None:
                printer.member = member
                printer(event)

            try:
                session = fed.launch(
                    spec, urlpath=urlpath, on_event=tagged, via_redirector=args.via_redirector
                )
            finally:
                printer.finish()
            hub_url = fed.config.member(session.member).url
            limits = fed.config.limits
            policy = fed.policy
    else:
        from binderfed_sdk.federation._limits import SessionLimits

        with _hub_client(args) as hub:
            try:
                session = hub.launch(
                    spec, urlpath=urlpath, build_token=args.build_token, on_event=printer
                )
            finally:
                printer.finish()
        hub_url = hub.url
        limits = SessionLimits()  # a lone hub's are not known: mybinder.org's numbers
        policy = None
    try:
        summary = session_summary(
            session, limits, show_token=args.show_token, hub=hub_url, spec=str(spec)
        )
        if args.json:
            summary["timeline"] = _timeline(session)
        _print_session(summary, out, as_json=args.json)
        _after_launch(args, session, out, spec=spec, policy=policy)
    finally:
        # without --shutdown the session is the user's: it stays up until it is culled
        if args.shutdown:
            session.shutdown()
        session.close()
    if args.shutdown and not args.json:
        out.write("stopped   the session was shut down (--shutdown)\n")
    return EXIT_OK


def _federation(args: argparse.Namespace) -> Any:
    from binderfed_sdk.federation._client import Federation
    from binderfed_sdk.federation._routing import Pinned
    from binderfed_sdk.hub._core import StreamLimits

    policy: Any = args.policy
    if policy.startswith("pinned:"):
        policy = Pinned(policy.partition(":")[2])
    limits = StreamLimits(
        idle_timeout=getattr(args, "idle_timeout", 90.0),
        total_timeout=getattr(args, "deadline", 3600.0),
    )
    return Federation(args.federation, policy=policy, limits=limits)


def _probe(args: argparse.Namespace, fed: Any) -> Any:
    return fed.health(timeout=args.probe_timeout)


def _cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    with _federation(args) as fed:
        health = _probe(args, fed)
    if args.json:
        out.write(health.model_dump_json() + "\n")
    else:
        from binderfed_sdk.cli._progress import cell, print_table, printable

        out.write(f"federation {printable(fed.config.name)}: {len(health.healthy)} of ")
        out.write(f"{len(health.members)} members healthy\n")
        rows = []
        for name, state in health.members.items():
            pods = f"{state.total_pods}/{state.quota}" if state.quota is not None else "-"
            latency = f"{state.latency * 1000:.0f} ms" if state.latency is not None else "-"
            prime = " (prime)" if name == health.prime else ""
            rows.append(
                (
                    cell(name + prime, "bold"),
                    cell("yes", "green") if state.healthy else cell("NO", "bold red"),
                    state.reason or "",
                    pods,
                    latency,
                    state.binderhub or "-",
                )
            )
        header = ("member", "healthy", "reason", "pods/quota", "latency", "binderhub")
        print_table(out, header, rows, right={"pods/quota", "latency"})
        for name, state in health.members.items():
            if state.detail:
                out.write(f"  {printable(name)}: {printable(state.detail)}\n")
    return EXIT_OK if health.healthy else EXIT_UNREACHABLE


def _cmd_route(args: argparse.Namespace, out: TextIO) -> int:
    spec, _ = _spec(args.target)
    with _federation(args) as fed:
        if args.resolve:
            resolution = fed.resolve(spec)
            if args.json:
                out.write(resolution.model_dump_json() + "\n")
            else:
                out.write(f"{spec} -> {resolution.member.name} ({resolution.member.url})\n")
            return EXIT_OK
        if args.probe_timeout is not None:
            _probe(args, fed)
        ranking = fed.route(spec)
        health = fed.last_health
    names = [m.name for m in ranking]
    if args.json:
        out.write(json.dumps({"spec": str(spec), "policy": fed.policy.name, "order": names}))
        out.write("\n")
    else:
        from binderfed_sdk.cli._progress import print_table

        out.write(f"{spec} with {fed.policy.name}: {' -> '.join(names)}\n")
        states = health.members if health else {}
        rows = []
        for rank, member in enumerate(ranking, 1):
            state = states.get(member.name)
            pods = "-"
            if state is not None and state.quota is not None:
                pods = f"{state.total_pods}/{state.quota}"
            latency = "-"
            if state is not None and state.latency is not None:
                latency = f"{state.latency * 1000:.0f} ms"
            rows.append((str(rank), member.name, f"{member.weight:g}", pods, latency, member.url))
        header = ("#", "member", "weight", "pods/quota", "latency", "url")
        print_table(out, header, rows, right={"#", "weight", "pods/quota", "latency"})
        unhealthy = [n for n, s in states.items() if not s.healthy]
        if unhealthy:
            out.write(f"skipped (unhealthy): {', '.join(unhealthy)}\n")
    return EXIT_OK


def _cmd_prime(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk.cli._progress import MemberTable, cell, print_table

    spec, _ = _spec(args.target)
    with _federation(args) as fed:
        members = args.members.split(",") if args.members else [m.name for m in fed.members]
        table = MemberTable(out if args.json else err, members, as_json=args.json)
        results = []
        try:
            results = fed.prime(spec, members=members, on_event=table)
        finally:
            table.finish({r.member: f"{r.outcome.value} {r.reason or ''}" for r in results})
    failed = [r for r in results if r.outcome == "failed"]
    if args.json:
        out.write(json.dumps({"prime": [r.model_dump(mode="json") for r in results]}) + "\n")
    else:
        styles = {"ok": "green", "failed": "bold red"}
        from binderfed_sdk.cli._history import launch_summary

        rows = [
            (
                cell(r.member, "bold"),
                cell(r.outcome.value, styles.get(r.outcome.value, "yellow")),
                f"{r.seconds:.1f}s",
                f"by {r.method}" if r.method else "",
                launch_summary(r.timeline, r.member) if r.timeline is not None else "",
                r.reason or "",
            )
            for r in results
        ]
        header = ("member", "outcome", "time", "how", "where the time went", "reason")
        print_table(out, header, rows, right={"time"})
    return EXIT_FAILED if failed else EXIT_OK


def _sandbox_settings(args: argparse.Namespace, repos: Sequence[str] = ()) -> Any:
    from binderfed_sdk.sandbox.manager import SandboxSettings

    return SandboxSettings(
        members=args.members,
        idle_timeout=args.idle_timeout,
        max_age=args.max_age,
        cull_every=args.cull_every,
        base_port=args.port,
        installer=args.installer,
        repos=list(repos),
    )


def _cmd_sandbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from binderfed_sdk.sandbox import manager

    def say(text: str) -> None:
        err.write(f"sandbox: {text}\n")

    folder = manager.sandbox_dir(args.name)
    if args.action == "down":
        stopped = manager.down(folder=folder, say=say)
        if args.json:
            out.write(json.dumps({"stopped": stopped, "state_folder": str(folder)}) + "\n")
        elif stopped:
            out.write(f"stopped {len(stopped)} processes: {' '.join(map(str, stopped))}\n")
        else:
            out.write(f"nothing to stop: no sandbox is running in {folder}\n")
        return EXIT_OK
    if args.action == "status":
        report = manager.status(folder)
        if args.json:
            out.write(json.dumps(report) + "\n")
            return EXIT_OK if _healthy(report) else EXIT_UNREACHABLE
        if not report["running"]:
            out.write(f"no sandbox is running in {folder} (start one: binderfed sandbox up)\n")
            return EXIT_OK
        out.write(f"redirector  {report['redirector']}\n")
        for member in report["members"]:
            mark = "healthy" if member["healthy"] else "UNHEALTHY"
            out.write(f"{member['name']:<11} {member['url']}  hub {member['hub']}  {mark}\n")
        dead = [name for name, alive in report["processes"].items() if not alive]
        if dead:
            out.write(f"not running: {', '.join(dead)}\n")
        for path in report["repositories"]:
            out.write(f"may build   {path}\n")
        return EXIT_OK if _healthy(report) else EXIT_UNREACHABLE
    if args.action == "up":
        from binderfed_sdk.sandbox import _local

        repos = [_local.repository_root(path) for path in args.repo]
        state = manager.up(_sandbox_settings(args, repos), folder=folder, say=say)
        if args.json:
            out.write(state.model_dump_json() + "\n")
        else:
            _print_sandbox(state, out, args.name)
        return EXIT_OK
    return _sandbox_launch(args, out, err, say)


def _healthy(report: dict[str, Any]) -> bool:
    """Nothing running is no failure; a running sandbox is healthy when all its members are."""
    return not report["running"] or all(m["healthy"] for m in report["members"])


def _print_sandbox(state: Any, out: TextIO, name: str | None) -> None:
    out.write(f"redirector  {state.redirector_url}\n")
    for member in state.members:
        prime = " (prime)" if member.prime else ""
        out.write(f"{member.name:<11} {member.url}  hub {member.hub_url}{prime}\n")
    how = f"BINDERFED_SANDBOX={name} binderfed ... " if name else ""
    out.write(f"state       {state.dir}  (other commands: {how}--federation sandbox)\n")


def session_info_of(session: Any, limits: Any) -> Any:
    """The `SessionInfo` of a launched session, as its own server extension reports it
    (`binderfed/session`); without the extension, the culler's rule applied to the server's
    `api/status` and the federation's limits; without either, the limits alone."""
    from datetime import UTC, datetime

    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.insession._rules import time_left

    try:
        info = session.info()
    except BinderFedError:
        info = None
    if info is not None and info.seconds_left is not None:
        return info
    now = datetime.now(UTC)
    try:
        status = session.status()
    except BinderFedError:  # a server that answers neither: no time can be predicted
        seconds, reason = None, None
    else:
        left = time_left(
            limits, now=now, started=status.started, last_activity=status.last_activity
        )
        seconds, reason = left.seconds, left.reason
    return SessionInfo(
        in_binder=True,
        member=(info.member if info is not None else None) or session.member,
        now=now,
        seconds_left=seconds,
        cull_reason=reason,
        cull_window=limits.cull_every,
        memory_used=info.memory_used if info is not None else None,
        memory_limit=(info.memory_limit if info is not None else None) or limits.mem_limit,
        limits=limits,
    )


def summary_of(
    info: Any, *, url: str, browser_url: str, token: str | None = None
) -> dict[str, Any]:
    """The CLI's session summary: the words are `info.display`'s (the widget and the status
    bar show the same)."""
    from binderfed_sdk._format import format_bytes

    display = info.display
    return {
        "member": info.member,
        "url": url,
        "browser_url": browser_url,
        "time_left": display.time or "no stop predicted",
        "seconds_left": info.seconds_left,
        "memory": display.memory or "unknown",
        "memory_limit": format_bytes(info.memory_limit) if info.memory_limit else "none",
        "memory_limit_bytes": info.memory_limit,
        "level": info.level,
        "summary": display.summary,
        "warnings": display.warnings,
        "token": token if token is not None else MASK,
    }


def session_summary(session: Any, limits: Any, *, show_token: bool, **extra: Any) -> dict[str, Any]:
    """Member, URL, time left and memory of a launched session (see `session_info_of`), with
    its image and the `extra` fields (hub, spec, what was launched)."""
    summary = summary_of(
        session_info_of(session, limits),
        url=session.url,
        browser_url=session.browser_url(with_token=show_token),
        token=session.token.get_secret_value() if show_token else None,
    )
    summary["member"] = summary["member"] or session.member
    return {**summary, "image": session.image, **extra}


def write_summary(summary: dict[str, Any], out: TextIO) -> None:
    """The summary as lines for people: the same for `launch`, `sandbox launch` and `demo`."""
    from binderfed_sdk.cli._progress import printable

    hub = summary.get("hub")
    if summary.get("member"):
        where = f" ({hub})" if hub else ""
        out.write(f"member    {printable(summary['member'])}{printable(where)}\n")
    elif hub:
        out.write(f"hub       {printable(hub)}\n")
    if summary.get("launched"):
        out.write(f"launched  {printable(summary['launched'])}\n")
    out.write(f"session   {printable(summary['url'])}\n")
    out.write(f"open      {printable(summary['browser_url'])}\n")
    out.write(f"time left {printable(summary['time_left'])}\n")
    out.write(f"memory    {printable(summary['memory'])}\n")
    if summary.get("image"):
        out.write(f"image     {printable(str(summary['image']))}\n")
    for warning in summary["warnings"]:
        out.write(f"warning   {printable(warning)}\n")
    if summary["token"] == MASK:
        out.write("token     ********** (--show-token prints it)\n")


def _timeline(session: Any) -> dict[str, Any] | None:
    from binderfed_sdk.cli._history import timeline_json

    timeline = session.timeline
    return timeline_json(timeline, session.member) if timeline is not None else None


def _after_launch(
    args: argparse.Namespace, session: Any, out: TextIO, *, spec: Spec | None, policy: Any
) -> None:
    """After `ready`: the launch's timeline in one line (or explained), and the launch
    appended to the local history (unless BINDERFED_HISTORY=0). With --json the timeline
    is in the summary instead."""
    import io

    from binderfed_sdk.cli._history import after_launch

    shown = io.StringIO() if args.json else out
    after_launch(session, shown, spec=spec, policy=policy, explain=args.explain)


def _print_session(summary: dict[str, Any], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps({"session": summary}) + "\n")
    else:
        write_summary(summary, out)


def _running_or_up(
    args: argparse.Namespace,
    folder: Path,
    err: TextIO,
    say: Callable[[str], None],
    repos: Sequence[str],
) -> Any:
    """The sandbox in `folder`: the running one, else one started now."""
    from binderfed_sdk.sandbox import manager

    state = manager.running_state(folder)
    if state is not None:
        say(f"using the running sandbox ({state.redirector_url})")
        return state
    say("starting the sandbox...")
    state = manager.up(_sandbox_settings(args, repos), folder=folder, say=say)
    if not args.json:
        _print_sandbox(state, err, args.name)
    return state


def _sandbox_launch(
    args: argparse.Namespace, out: TextIO, err: TextIO, say: Callable[[str], None]
) -> int:
    """`sandbox launch [PATH]` and `sandbox demo`: start the sandbox if needed, allow the
    repository, launch it through the redirector with live progress, print the session."""
    from binderfed_sdk.cli._progress import ProgressPrinter
    from binderfed_sdk.federation._client import Federation
    from binderfed_sdk.sandbox import _local, manager

    folder = manager.sandbox_dir(args.name)
    local = None
    if args.action == "launch":  # read the repository first: a bad ref starts nothing
        if args.working_tree:
            local = _local.snapshot(args.path)
        else:
            local = _local.resolve(args.path, args.ref)
    state = _running_or_up(args, folder, err, say, [local.path] if local else [])
    if local is None:  # the demo: the sandbox's own copy, which it always may build
        local = _local.resolve(Path(state.repos_dir) / "binderfed" / "demo")
    elif manager.allow_repository(local.path, folder=folder):
        say(f"this sandbox may build {local.path} from now on")
    say(f"launching {local.path}: {local.describe()}")
    printer = ProgressPrinter(out if args.json else err, as_json=args.json)

    def tagged(member: str, event: BuildEvent) -> None:
        printer.member = member
        printer(event)

    try:
        with Federation(state.federation_file) as fed:
            try:
                session = fed.launch(
                    local.spec, urlpath=args.urlpath, on_event=tagged, via_redirector=True
                )
            finally:
                printer.finish()
            try:
                summary = session_summary(
                    session,
                    fed.config.limits,
                    show_token=args.show_token,
                    hub=fed.config.member(session.member).url if session.member else None,
                    spec=local.spec,
                    launched=local.describe(),
                    commit=local.commit,
                    repository=local.path,
                )
                if args.json:
                    summary["timeline"] = _timeline(session)
                else:
                    _print_session(summary, out, as_json=False)
                _after_launch(args, session, out, spec=None, policy=fed.policy)
            finally:
                session.close()
        if args.json:
            _print_session(summary, out, as_json=True)
        if not args.json and not args.down:
            stop = f" --name {args.name}" if args.name else ""
            out.write(f"stop it all: binderfed sandbox down{stop}\n")
    finally:
        if args.down:
            manager.down(folder=folder, say=say)
    return EXIT_OK


def _cmd_hub(args: argparse.Namespace, out: TextIO) -> int:
    from binderfed_sdk.hub._client import BinderHub

    with BinderHub(args.url or args.hub) as hub:
        health = hub.health()
        versions = hub.versions()
    if args.json:
        out.write(
            json.dumps(
                {
                    "hub": hub.url,
                    "health": health.model_dump(mode="json", by_alias=True),
                    "versions": versions.model_dump(mode="json"),
                }
            )
            + "\n"
        )
        return EXIT_OK if health.ok else EXIT_UNREACHABLE
    from binderfed_sdk.cli._progress import printable

    out.write(f"hub       {hub.url}\nhealthy   {'yes' if health.ok else 'NO'}")
    out.write(f" (HTTP {health.status_code})\nbinderhub {printable(versions.binderhub)}\n")
    for check in health.checks:
        mark = "ok " if check.ok else "BAD"
        detail = ""
        if check.quota is not None or check.total_pods is not None:
            detail = f"  pods {check.total_pods}/{check.quota}"
        out.write(f"  {mark} {printable(check.service)}{detail}\n")
    return EXIT_OK if health.ok else EXIT_UNREACHABLE


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = _parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed its own message (or --help, --version)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from binderfed_sdk.cli._doctor import run_doctor
    from binderfed_sdk.cli._history import run_history
    from binderfed_sdk.cli._session import run_session

    commands: dict[str, Callable[[], int]] = {
        "link": lambda: _cmd_link(args, out),
        "build": lambda: _cmd_build(args, out, err),
        "launch": lambda: _cmd_launch(args, out, err),
        "hub": lambda: _cmd_hub(args, out),
        "status": lambda: _cmd_status(args, out),
        "route": lambda: _cmd_route(args, out),
        "prime": lambda: _cmd_prime(args, out, err),
        "sandbox": lambda: _cmd_sandbox(args, out, err),
        "run": lambda: _cmd_run(args, out, err),
        "session": lambda: run_session(args, out, err),
        "doctor": lambda: run_doctor(args, out, err),
        "history": lambda: run_history(args, out, err),
    }
    try:
        return commands[args.command]()
    except BinderFedError as error:
        from binderfed_sdk.cli._progress import printable

        err.write(f"binderfed: error: {printable(str(error))}\n")
        reset = error.reset if isinstance(error, RateLimited) else None
        if reset is not None:
            from binderfed_sdk._format import format_try_again

            err.write(f"binderfed: {format_try_again(reset)}\n")
        log = error.log if isinstance(error, BuildFailed) else ()
        if args.json:
            status_code = error.status_code if isinstance(error, HubError) else None
            report: dict[str, Any] = {
                "error": type(error).__name__,
                "message": str(error),
                "log": list(log),
            }
            if isinstance(error, RateLimited):  # when to try again, for a script
                report["reset"] = reset.isoformat(timespec="seconds") if reset else None
            out.write(json.dumps({**report, "status_code": status_code}) + "\n")
        elif log:
            err.write("last log lines:\n" + "".join(f"  {printable(line)}\n" for line in log[-5:]))
        return error.exit_code
    except KeyboardInterrupt:
        err.write("binderfed: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - what a server sent that the SDK does not type yet
        # one line, never a traceback: the exception's text (an httpx error's URL, say) could
        # carry a token, and a hostile server's bytes do not reach the terminal
        err.write(f"binderfed: error: unexpected {type(exc).__name__} (please report it)\n")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
