"""`binderfed doctor`: is this repository ready for Binder, are its Binder links current?

`binderfed doctor [PATH | URL | FILE...]` prints one line per finding (file:line, severity,
message, [code]) and its fix. Exit codes: 0 when there is no error (warnings and notes do not
fail: they name things that still work, such as a legacy link BinderHub redirects), 1 on any
error. `--fix` rewrites in place what it can safely fix and prints the diff; `--check` prints
that diff without writing and exits 1 when anything would change or any error remains (what a
CI job or a pre-commit hook wants). `--json` prints the report as one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk.cli._progress import printable

if TYPE_CHECKING:
    import argparse

    from binderfed_sdk.doctor._doctor import Change, Report

EXIT_CLEAN = 0
EXIT_PROBLEMS = 1
DESCRIPTION = (
    "Check a repository for Binder: the configuration repo2docker will use (binder/ wins over "
    "the top level; mybinder.org builds nothing without an environment file) and every Binder "
    "link and badge in Markdown, reStructuredText, HTML and notebooks' markdown cells (valid "
    "spec, current host, current form, the urlpath's file at that ref). Or check one Binder "
    "link. Exit 0 without errors (warnings allowed), 1 with errors; with --check, 1 also when "
    "--fix would change anything."
)


def add_doctor_parser(commands: Any) -> argparse.ArgumentParser:
    """The `doctor` subcommand on `commands` (the `binderfed` parser's subparsers)."""
    doctor = commands.add_parser(
        "doctor",
        help="check a repository's Binder configuration and links (and fix them)",
        description=DESCRIPTION,
    )
    doctor.add_argument(
        "targets",
        nargs="*",
        metavar="PATH | URL | FILE",
        help="a repository folder (default: .), a Binder link, or files to check (as a "
        "pre-commit hook passes them)",
    )
    mode = doctor.add_mutually_exclusive_group()
    mode.add_argument(
        "--fix", action="store_true", help="rewrite what can be fixed; print the diff"
    )
    mode.add_argument(
        "--check", action="store_true", help="print what --fix would change; exit 1 if anything"
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    return doctor  # type: ignore[no-any-return]


def _is_url(text: str) -> bool:
    return "://" in text and not Path(text).exists()


def run_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run `binderfed doctor`; the exit code (see the module docstring)."""
    from binderfed_sdk.doctor import check_url, diagnose, planned_changes, write_changes

    targets: list[str] = list(args.targets) or ["."]
    if len(targets) == 1 and _is_url(targets[0]):
        report = check_url(targets[0])
        changes: list[Change] = []
    elif len(targets) == 1 and Path(targets[0]).is_dir():
        report = diagnose(targets[0])
        changes = planned_changes(report) if args.fix or args.check else []
    else:
        missing = [t for t in targets if not Path(t).is_file()]
        if missing:
            err.write(f"binderfed doctor: not a file: {printable(missing[0])}\n")
            return 2
        # the repository around the first file (a hook runs at the top level; a user anywhere)
        report = diagnose(Path(targets[0]).resolve().parent, files=targets)
        changes = planned_changes(report) if args.fix or args.check else []
    if args.fix:
        write_changes(changes)
    if args.json:
        out.write(json.dumps(_as_json(report, changes, written=bool(args.fix))) + "\n")
    else:
        _print(report, changes, out, written=bool(args.fix))
    if args.fix:
        # what is left after the rewrite: errors the rewrite did not fix
        fixed = {id(f) for f in report.fixable}
        left = [f for f in report.errors if id(f) not in fixed]
        return EXIT_PROBLEMS if left else EXIT_CLEAN
    if args.check and changes:
        return EXIT_PROBLEMS
    return EXIT_PROBLEMS if report.errors else EXIT_CLEAN


def _print(report: Report, changes: list[Change], out: TextIO, *, written: bool) -> None:
    for finding in report.findings:
        out.write(
            f"{printable(finding.where())}: {finding.severity}: {printable(finding.message)}"
            f" [{finding.code}]\n"
        )
        if finding.fix:
            how = "fixable" if finding.edit is not None else "fix"
            out.write(f"    {how}: {printable(finding.fix)}\n")
    for change in changes:
        out.write(printable_diff(change.diff()))
    counts = {
        s: sum(f.severity == s for f in report.findings) for s in ("error", "warning", "info")
    }
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items())
    what = f"{report.files_checked} files, {report.links_checked} Binder links"
    if report.root is None:
        what = "1 Binder link" if report.links_checked else "no Binder link"
    verb = "rewrote" if written else "would rewrite"
    tail = f"; {verb} {len(changes)} file{'s' if len(changes) != 1 else ''}" if changes else ""
    out.write(f"doctor: {what} checked: {summary}{tail}\n")


def printable_diff(diff: str) -> str:
    """A diff made printable line by line (its newlines kept)."""
    return "".join(printable(line) + "\n" for line in diff.splitlines())


def _as_json(report: Report, changes: list[Change], *, written: bool) -> dict[str, Any]:
    config = report.configuration
    return {
        "target": report.target,
        "root": str(report.root) if report.root is not None else None,
        "files_checked": report.files_checked,
        "links_checked": report.links_checked,
        "configuration": None
        if config is None
        else {
            "binder_dir": config.binder_dir,
            "buildpack": config.buildpack,
            "selected_by": config.selected_by,
        },
        "findings": [f.to_json() for f in report.findings],
        "errors": len(report.errors),
        "changes": [
            {"path": c.relative, "new": c.before is None, "diff": c.diff()} for c in changes
        ],
        "written": written and bool(changes),
    }
