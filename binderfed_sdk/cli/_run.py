"""`binderfed run TARGET NOTEBOOK...`: build and launch, upload, run the notebooks, download
the results and the executed notebooks, and always shut the session down (Ctrl-C included).
With `--on-each-member`, the same on every healthy member at once, and a table.

Written on the async API: Ctrl-C cancels the run's task, and each member's `finally` shuts its
session down before the interrupt goes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk._errors import BinderFedError, ExecutionError, ExecutionTimeout
from binderfed_sdk._format import format_duration
from binderfed_sdk.cli._progress import MemberTable, ProgressPrinter, print_table, printable

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from binderfed_sdk.federation._async_client import AsyncFederation
    from binderfed_sdk.hub._async_session import AsyncSession
    from binderfed_sdk.hub._events import BuildEvent
    from binderfed_sdk.spec._spec import Spec

__all__ = ["add_run_parser", "run_command"]


def add_run_parser(commands: Any, fed_options: Callable[..., None]) -> None:
    run = commands.add_parser(
        "run",
        help="run notebooks on Binder: launch, upload, execute, download, shut down",
        description="Build and launch TARGET, upload files, run each NOTEBOOK in the session, "
        "download the executed notebooks and the files asked for, and shut the session down "
        "(also on Ctrl-C). Exit status 0 only if every notebook ran without error.",
    )
    run.add_argument("target", help="spec, repository URL, DOI or Binder link")
    run.add_argument(
        "notebooks",
        nargs="+",
        metavar="NOTEBOOK",
        help="a local notebook (uploaded first) or the path of one in the repository",
    )
    run.add_argument(
        "--out", default="binderfed-out", help="where results go (default: %(default)s)"
    )
    run.add_argument(
        "--upload",
        action="append",
        default=[],
        metavar="PATH",
        help="a local file or folder to put in the session's root first (repeatable)",
    )
    run.add_argument(
        "--download",
        action="append",
        default=[],
        metavar="PATH",
        help="a file or folder of the session to fetch into --out afterwards (repeatable)",
    )
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter injected as papermill does (VALUE read as JSON, else as text)",
    )
    run.add_argument("--timeout", type=float, help="seconds each cell may run (default: no limit)")
    run.add_argument("--kernel", help="kernel name (default: the notebook's, else python3)")
    run.add_argument(
        "--on-each-member",
        action="store_true",
        help="run on every healthy member of the federation at once, and print a table",
    )
    fed_options(run)


def parameters(pairs: list[str]) -> dict[str, Any]:
    """`name=value` pairs: values read as JSON when they parse (numbers, lists), else text."""
    found: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.isidentifier():
            msg = f"--param {pair!r}: give NAME=VALUE, NAME a Python identifier"
            raise BinderFedError(msg)
        try:
            found[name] = json.loads(text)
        except ValueError:
            found[name] = text
    return found


@dataclass
class NotebookOutcome:
    path: str
    ok: bool
    written: str | None = None
    error: str | None = None


@dataclass
class MemberOutcome:
    member: str
    build_seconds: float | None = None
    run_seconds: float | None = None
    notebooks: list[NotebookOutcome] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    memory: str | None = None
    error: str | None = None
    #: where the launch's time went (`binderfed_sdk.hub._timeline.Timeline`), one line of it
    timeline: dict[str, Any] | None = None
    launch: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(nb.ok for nb in self.notebooks)

    @property
    def result(self) -> str:
        if self.error is not None:
            return f"failed: {self.error}"
        failed = [nb for nb in self.notebooks if not nb.ok]
        if failed:
            return f"{len(failed)} of {len(self.notebooks)} notebooks failed: {failed[0].error}"
        return f"ok ({len(self.notebooks)} notebooks)"

    def as_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "ok": self.ok,
            "build_seconds": _rounded(self.build_seconds),
            "run_seconds": _rounded(self.run_seconds),
            "notebooks": [nb.__dict__ for nb in self.notebooks],
            "downloads": self.downloads,
            "memory": self.memory,
            "timeline": self.timeline,
            "error": self.error,
        }


def _rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass
class RunPlan:
    spec: Spec
    #: (as given, the local file when it is one)
    notebooks: list[tuple[str, Path | None]]
    uploads: list[Path]
    downloads: list[str]
    parameters: dict[str, Any]
    timeout: float | None
    kernel: str | None
    out: Path


async def run_in_session(
    session: AsyncSession, plan: RunPlan, outcome: MemberOutcome, out: Path
) -> None:
    """Upload, run each notebook, download; every notebook is tried, each outcome recorded."""
    started = time.monotonic()
    for path in plan.uploads:
        await session.upload(path, path.name)
    for notebook, local in plan.notebooks:
        remote = notebook
        if local is not None:  # a local notebook goes next to the uploaded files
            remote = local.name
            await session.upload(local, remote)
        target = out / Path(remote).name
        try:
            executed = await session.run_notebook(
                remote, timeout=plan.timeout, parameters=plan.parameters, kernel=plan.kernel
            )
        except (ExecutionError, ExecutionTimeout) as error:
            if error.notebook is not None:
                _write_notebook(error.notebook, target)
            outcome.notebooks.append(
                NotebookOutcome(remote, ok=False, written=str(target), error=str(error))
            )
            continue
        except BinderFedError as error:
            outcome.notebooks.append(NotebookOutcome(remote, ok=False, error=str(error)))
            continue
        _write_notebook(executed, target)
        outcome.notebooks.append(NotebookOutcome(remote, ok=True, written=str(target)))
    for remote_path in plan.downloads:
        written = await session.download(remote_path, out / Path(remote_path).name)
        outcome.downloads += [str(p) for p in written]
    outcome.run_seconds = time.monotonic() - started
    try:
        info = await session.info()
    except BinderFedError:
        return  # no binderfed extension in the session: memory not known
    outcome.memory = info.display.memory


def _write_notebook(notebook: Any, target: Path) -> None:
    import nbformat

    target.parent.mkdir(parents=True, exist_ok=True)
    untyped: Any = nbformat
    untyped.write(notebook, str(target))


async def run_on_member(
    fed: AsyncFederation,
    plan: RunPlan,
    member: str | None,
    on_event: Callable[[str, BuildEvent], object],
    out: Path,
) -> MemberOutcome:
    """Launch (on `member`, or where the federation routes), run, shut down: always."""
    outcome = MemberOutcome(member or "?")
    started = time.monotonic()
    session: AsyncSession | None = None
    try:
        if member is None:
            session = await fed.launch(plan.spec, on_event=on_event)
            outcome.member = session.member or "?"
        else:
            session = await fed.hub(member).launch(
                plan.spec, on_event=lambda event: on_event(member, event)
            )
            session.member = member
        outcome.build_seconds = time.monotonic() - started
        if session.timeline is not None:
            from binderfed_sdk.cli._history import launch_summary, timeline_json

            outcome.timeline = timeline_json(session.timeline, session.member)
            outcome.launch = launch_summary(session.timeline)
        await run_in_session(session, plan, outcome, out)
    except BinderFedError as error:
        outcome.error = str(error)
    finally:
        if session is not None:
            await session.shutdown()
            await session.aclose()
    return outcome


async def _run(args: argparse.Namespace, plan: RunPlan, err: TextIO) -> list[MemberOutcome]:
    from binderfed_sdk.federation._async_client import AsyncFederation

    async with AsyncFederation(args.federation, policy=args.policy) as fed:
        if not args.on_each_member:
            printer = ProgressPrinter(err, as_json=False, show_token=False)

            def tagged(member: str, event: BuildEvent) -> None:
                printer.member = member
                printer(event)

            try:
                outcome = await run_on_member(fed, plan, None, tagged, plan.out)
            finally:
                printer.finish()
            return [outcome]
        health = await fed.health()
        healthy = [m.name for m in fed.members if m.name in health.healthy]
        if not healthy:
            msg = "no member of the federation is healthy: nothing to run on"
            raise BinderFedError(msg)
        table = MemberTable(err, healthy, as_json=False)
        try:
            return list(
                await asyncio.gather(
                    *(run_on_member(fed, plan, name, table, plan.out / name) for name in healthy)
                )
            )
        finally:
            table.finish()


def run_command(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    *,
    spec_of: Callable[[str], Spec],
) -> int:
    plan = RunPlan(
        spec=spec_of(args.target),
        notebooks=[(nb, Path(nb) if Path(nb).is_file() else None) for nb in args.notebooks],
        uploads=[Path(p) for p in args.upload],
        downloads=list(args.download),
        parameters=parameters(args.param),
        timeout=args.timeout,
        kernel=args.kernel,
        out=Path(args.out),
    )
    for path in plan.uploads:
        if not path.exists():
            msg = f"--upload {path}: no such file or folder"
            raise BinderFedError(msg)
    outcomes = asyncio.run(_run(args, plan, err))
    if args.json:
        out.write(
            json.dumps({"spec": str(plan.spec), "results": [o.as_json() for o in outcomes]}) + "\n"
        )
    else:
        rows = [
            [
                o.member,
                printable(o.launch)
                if o.launch
                else (format_duration(o.build_seconds) if o.build_seconds is not None else "-"),
                format_duration(o.run_seconds) if o.run_seconds is not None else "-",
                o.memory or "-",
                printable(o.result),
            ]
            for o in outcomes
        ]
        print_table(out, ["member", "launch", "run", "memory", "result"], rows)
        for outcome in outcomes:
            for notebook in outcome.notebooks:
                if notebook.written:
                    out.write(f"wrote {printable(notebook.written)}\n")
            for written in outcome.downloads:
                out.write(f"wrote {printable(written)}\n")
    return 0 if all(o.ok for o in outcomes) else 1
