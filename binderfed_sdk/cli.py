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
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from ._errors import BinderFedError, BuildFailed, HubError, HubUnavailable, SpecError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .spec import BadgeFormat, Spec

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_HUB = "https://mybinder.org"
BADGE_FORMATS: tuple[BadgeFormat, ...] = ("markdown", "rst", "html")


def exit_code(error: BinderFedError) -> int:
    if isinstance(error, HubUnavailable):
        return EXIT_UNREACHABLE
    if isinstance(error, HubError):
        # failed builds, rate limits, stream timeouts and closes, refused sessions
        return EXIT_FAILED
    return EXIT_USAGE  # a spec error or a bad setting


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    link.add_argument("--format", choices=("all", "url", *BADGE_FORMATS), default="all")
    hub_options(link)

    for name, text in (
        ("build", "build a repository, streaming its log"),
        ("launch", "build and launch a repository, printing the session"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("target", help="spec, repository URL, DOI or Binder link")
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
            sub.add_argument("--urlpath", help="what to open, e.g. lab/tree/index.ipynb")
            sub.add_argument("--show-token", action="store_true", help="print the session token")
            sub.add_argument(
                "--shutdown", action="store_true", help="stop the session right after it is ready"
            )

    hub = commands.add_parser("hub", help="health and versions of one hub")
    hub.add_argument("url", nargs="?", help="hub URL (default: --hub)")
    hub_options(hub)
    return parser


def _spec(target: str) -> tuple[Spec, str | None]:
    """A spec and the urlpath a link or blob URL carries."""
    from .spec import parse_launch_link, parse_repo_url, parse_spec

    if "://" in target and ("/v2/" in target or "/build/" in target or "/repo/" in target):
        try:
            link = parse_launch_link(target)
        except SpecError:
            pass
        else:
            return link.spec, link.urlpath
    if "://" in target or target.startswith(("git@", "doi:", "10.")):
        return parse_repo_url(target)
    return parse_spec(target), None


def _cmd_link(args: argparse.Namespace, out: TextIO) -> int:
    spec, urlpath = _spec(args.target)
    urlpath = args.urlpath if args.urlpath is not None else urlpath
    url = spec.launch_url(args.hub, urlpath)
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
    from ._core import StreamLimits
    from .hub import BinderHub

    limits = StreamLimits(idle_timeout=args.idle_timeout, total_timeout=args.deadline)
    return BinderHub(args.hub, limits=limits)


def _cmd_build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._progress import ProgressPrinter

    spec, _ = _spec(args.target)
    printer = ProgressPrinter(out if args.json else err, as_json=args.json)
    with _hub_client(args) as hub:
        try:
            for event in hub.build(spec, build_only=args.build_only, build_token=args.build_token):
                printer(event)
        finally:
            printer.finish()
    return EXIT_OK


def _cmd_launch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._progress import ProgressPrinter

    spec, urlpath = _spec(args.target)
    urlpath = args.urlpath if args.urlpath is not None else urlpath
    printer = ProgressPrinter(
        out if args.json else err, as_json=args.json, show_token=args.show_token
    )
    with _hub_client(args) as hub:
        try:
            session = hub.launch(
                spec, urlpath=urlpath, build_token=args.build_token, on_event=printer
            )
        finally:
            printer.finish()
    with session:
        url = session.browser_url(with_token=args.show_token)
        summary = {
            "hub": hub.url,
            "spec": str(spec),
            "url": session.url,
            "browser_url": url,
            "image": session.image,
            "token": session.token.get_secret_value() if args.show_token else "**********",
        }
        if args.json:
            out.write(json.dumps({"session": summary}) + "\n")
        else:
            out.write(f"session   {session.url}\nopen      {url}\nimage     {session.image}\n")
            if not args.show_token:
                out.write("token     ********** (--show-token prints it)\n")
        if not args.shutdown:
            session.stopped = True  # leave it running: the context manager must not stop it
            session.close()
        elif not args.json:
            out.write("stopped   the session was shut down (--shutdown)\n")
    return EXIT_OK


def _cmd_hub(args: argparse.Namespace, out: TextIO) -> int:
    from .hub import BinderHub

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
    out.write(f"hub       {hub.url}\nhealthy   {'yes' if health.ok else 'NO'}")
    out.write(f" (HTTP {health.status_code})\nbinderhub {versions.binderhub}\n")
    for check in health.checks:
        mark = "ok " if check.ok else "BAD"
        detail = ""
        if check.quota is not None or check.total_pods is not None:
            detail = f"  pods {check.total_pods}/{check.quota}"
        out.write(f"  {mark} {check.service}{detail}\n")
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
    commands: dict[str, Callable[[], int]] = {
        "link": lambda: _cmd_link(args, out),
        "build": lambda: _cmd_build(args, out, err),
        "launch": lambda: _cmd_launch(args, out, err),
        "hub": lambda: _cmd_hub(args, out),
    }
    try:
        return commands[args.command]()
    except BinderFedError as error:
        err.write(f"binderfed: error: {error}\n")
        log = error.log if isinstance(error, BuildFailed) else ()
        if args.json:
            status_code = error.status_code if isinstance(error, HubError) else None
            report = {"error": type(error).__name__, "message": str(error), "log": list(log)}
            out.write(json.dumps({**report, "status_code": status_code}) + "\n")
        elif log:
            err.write("last log lines:\n" + "".join(f"  {line}\n" for line in log[-5:]))
        return exit_code(error)
    except KeyboardInterrupt:
        err.write("binderfed: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
