"""`diagnose`: a folder's Binder configuration and every Binder link in its documents; `fix`.

The checks are local: the files, and `git` for what a ref holds. Nothing goes to the network.
Fixes are edits of a file's text at exact positions; everything else in the file keeps its
bytes (the text is decoded with surrogateescape and encoded back the same way).
"""

from __future__ import annotations

import difflib
import os
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from binderfed_sdk._lazy import publish
from binderfed_sdk.doctor._find import find_urls, is_document, written_as
from binderfed_sdk.doctor._git import Repository, open_repository, relative_files
from binderfed_sdk.doctor._links import check_badge_image, check_link
from binderfed_sdk.doctor._model import Edit, Finding
from binderfed_sdk.doctor._repo2docker import (
    BINDER_DIRS,
    CONFIG_FILES,
    NO_ENVIRONMENT,
    detect_configuration,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from binderfed_sdk.doctor._find import Found
    from binderfed_sdk.doctor._links import LinkCheck
    from binderfed_sdk.doctor._repo2docker import Configuration

__all__ = ["Change", "Report", "check_url", "diagnose", "planned_changes", "write_changes"]

#: documents larger than this are not read (a link checker has no business in data files)
MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024
#: the problems a rewritten link resolves (the others are reported with their advice only)
_FIXED_BY_REWRITE: Final = frozenset(
    {"departed-host", "legacy-repo-link", "build-link", "legacy-filepath", "plain-http"}
)
_NEW_REQUIREMENTS: Final = (
    "# Binder: a Python environment (mybinder.org builds no repository without an environment\n"
    "# file since 2026-03-13); list the packages your notebooks import, one a line\n"
)
_ENCODING: Final = "utf-8"
_ERRORS: Final = "surrogateescape"


@dataclass
class Report:
    """What `diagnose` found: `findings` (worst first per file), and what was looked at."""

    target: str
    root: Path | None
    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    links_checked: int = 0
    configuration: Configuration | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.edit is not None]


@dataclass(frozen=True, slots=True)
class Change:
    """A file `--fix` rewrites (or creates: `before` is None)."""

    path: Path
    relative: str
    before: bytes | None
    after: bytes

    def diff(self) -> str:
        old = [] if self.before is None else _decode(self.before).splitlines(keepends=True)
        new = _decode(self.after).splitlines(keepends=True)
        source = "/dev/null" if self.before is None else f"a/{self.relative}"
        lines = difflib.unified_diff(old, new, source, f"b/{self.relative}")
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _decode(data: bytes) -> str:
    return data.decode(_ENCODING, _ERRORS)


def _encode(text: str) -> bytes:
    return text.encode(_ENCODING, _ERRORS)


class _Lines:
    """Line numbers of character offsets (from 1), computed once per file."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] | None = None

    def __call__(self, offset: int) -> int:
        if self.starts is None:
            starts = [0]
            find = self.text.find
            at = find("\n")
            while at >= 0:
                starts.append(at + 1)
                at = find("\n", at + 1)
            self.starts = starts
        return bisect_right(self.starts, offset)


# --- links -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    path: str
    line: int
    ref: str
    file: str
    url: str


def _link_findings(
    rel: str, found: Found, check: LinkCheck, line: int, repo: Repository | None
) -> tuple[list[Finding], _Target | None]:
    findings: list[Finding] = []
    edit = None
    if check.fixed is not None:
        edit = Edit(found.start, found.end, found.raw, written_as(found, check.fixed))
    where = f" (cell {found.cell})" if found.cell is not None else ""
    for problem in check.problems:
        fixes = edit if problem.code in _FIXED_BY_REWRITE else None
        findings.append(
            Finding(
                rel,
                line,
                problem.severity,
                problem.code,
                f"{problem.message}{where}: {found.url}",
                check.fixed if fixes is not None else problem.fix,
                fixes,
            )
        )
    target = None
    link = check.link
    if link is not None and check.target is not None and repo is not None:
        spec = link.spec
        if repo.is_this(str(spec.provider), spec.repo):
            target = _Target(rel, line, spec.ref or "HEAD", check.target, found.url)
    return findings, target


def _target_findings(repo: Repository, targets: Sequence[_Target]) -> list[Finding]:
    """A urlpath's file must be in the repository at the link's ref (the working tree counts
    for HEAD and the checked-out branch)."""
    here = repo.worktree_refs()
    asked = [(t.ref, t.file) for t in targets if t.ref not in here]
    answers = repo.exist_at(asked)
    findings: list[Finding] = []
    for target in targets:
        if target.ref in here:
            present: bool | None = repo.in_worktree(target.file)
        else:
            present = answers.get((target.ref, target.file))
            if present is None and target.ref in ("main", "master"):
                present = repo.in_worktree(target.file)  # a clone without that branch
        if present is None:
            findings.append(
                Finding(
                    target.path,
                    target.line,
                    "info",
                    "target-not-checked",
                    f"ref {target.ref!r} is not in this clone: {target.file!r} not checked",
                )
            )
        elif not present:
            findings.append(
                Finding(
                    target.path,
                    target.line,
                    "error",
                    "missing-target",
                    f"the link opens {target.file!r}, which is not in the repository at "
                    f"{target.ref!r}: {target.url}",
                    "point urlpath at an existing file, or add the file",
                )
            )
    return findings


def _document_findings(
    root: Path, rel: str, repo: Repository | None, report: Report, targets: list[_Target]
) -> None:
    path = root / rel
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
        if len(data) > MAX_DOCUMENT_BYTES:
            return
        text = _decode(data)
    except OSError as error:
        report.findings.append(
            Finding(rel, 0, "warning", "unreadable", f"cannot read: {error.strerror}")
        )
        return
    report.files_checked += 1
    try:
        urls = find_urls(rel, text)
    except ValueError as error:
        report.findings.append(Finding(rel, 0, "warning", "unreadable-notebook", str(error)))
        return
    lines = _Lines(text)
    for found in urls:
        check = check_link(found.url)
        if check is not None:
            report.links_checked += 1
            if not check.problems and check.target is None:
                continue
            findings, target = _link_findings(rel, found, check, lines(found.start), repo)
            report.findings += findings
            if target is not None:
                targets.append(target)
            continue
        badge = check_badge_image(found.url)
        if badge is not None:
            problem, current = badge
            report.findings.append(
                Finding(
                    rel,
                    lines(found.start),
                    problem.severity,
                    problem.code,
                    problem.message,
                    current,
                    Edit(found.start, found.end, found.raw, written_as(found, current)),
                )
            )


# --- configuration -----------------------------------------------------------------------------


def _python_package(root: Path) -> bool:
    if (root / "setup.py").is_file():
        return True
    try:
        import tomllib  # noqa: PLC0415 - only for a repository without environment files

        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return "project" in data and "build-system" in data


def _read(root: Path, rel: str) -> str:
    try:
        return (root / rel).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _config_findings(repo: Repository, report: Report) -> None:
    root = repo.root
    config = detect_configuration(
        repo.files,
        repo.folders,
        lambda rel: _read(root, rel),
        python_package=lambda: _python_package(root),
    )
    report.configuration = config
    add = report.findings.append
    if config.error is not None:
        add(Finding("binder", 0, "error", "two-binder-folders", config.error, "keep one"))
        return
    folder = config.binder_dir
    for name in config.shadowed:
        add(
            Finding(
                name,
                0,
                "warning",
                "shadowed",
                f"ignored by Binder: {folder}/ exists, so repo2docker reads its configuration "
                "there only, never from the top level",
                f"move {name} into {folder}/ (or merge it with {folder}/{name}), or remove it",
            )
        )
    runtime = f"{folder}/runtime.txt" if folder else "runtime.txt"
    if config.runtime_error is not None:
        add(
            Finding(
                runtime,
                1,
                "error",
                "invalid-runtime",
                f"repo2docker cannot use it: {config.runtime_error}",
                "python-3.12, or r-4.4-2025-01-01",
            )
        )
    if config.buildpack == "julia-require":
        add(
            Finding(
                config.selected_by or "REQUIRE",
                0,
                "error",
                "julia-require",
                "REQUIRE (Julia before 1.0) no longer builds",
                "a Project.toml",
            )
        )
    if config.buildpack is None and config.runtime_error is None:
        where = f"{folder}/requirements.txt" if folder else "requirements.txt"
        add(
            Finding(
                folder or ".",
                0,
                "error",
                "no-environment",
                f"no environment file: mybinder.org builds no repository without one since "
                f"2026-03-13 (repo2docker: {NO_ENVIRONMENT.split('.')[0]})",
                f"add an environment file; --fix adds an empty {where} (a plain Python "
                "environment, what mybinder.org gave such repositories before)",
                Edit(0, 0, "", _NEW_REQUIREMENTS, create=True),
            )
        )
    for name in ("postBuild", "start"):
        rel = f"{folder}/{name}" if folder else name
        if rel not in repo.files:
            continue
        mode = repo.modes.get(rel)
        executable = mode == "100755" if mode else os.access(root / rel, os.X_OK)
        if not executable:
            add(
                Finding(
                    rel,
                    0,
                    "info",
                    "not-executable",
                    "not executable: repo2docker makes it so before running it (chmod +x), "
                    "but a local run or another builder may not",
                    f"git update-index --chmod=+x {rel}",
                )
            )


def _is_config(rel: str) -> bool:
    head, _, name = rel.rpartition("/")
    return (
        (head in ("", *BINDER_DIRS) and name in CONFIG_FILES)
        or head in BINDER_DIRS
        or rel
        in (
            "setup.py",
            "pyproject.toml",
            "DESCRIPTION",
        )
    )


# --- entry points --------------------------------------------------------------------------------


def diagnose(target: str | Path = ".", *, files: Iterable[str | Path] | None = None) -> Report:
    """Check the repository (or folder) at `target`: configuration and every Binder link.

    With `files`, only those documents are searched for links, and the configuration is
    checked only when one of them is a configuration file (a pre-commit hook's way).
    """
    start = Path(target)
    repo = open_repository(start if start.is_dir() else start.parent)
    report = Report(str(target), repo.root)
    if files is None:
        documents = sorted(rel for rel in repo.files if is_document(rel))
        config = True
    else:
        given = relative_files(repo, [Path(f) for f in files])
        documents = sorted(rel for rel in given if is_document(rel))
        config = any(_is_config(rel) for rel in given)
    if config:
        _config_findings(repo, report)
    targets: list[_Target] = []
    for rel in documents:
        _document_findings(repo.root, rel, repo, report, targets)
    report.findings += _target_findings(repo, targets)
    report.findings.sort(key=lambda f: (f.path, f.line))
    return report


def check_url(url: str) -> Report:
    """Check one Binder link by itself: valid spec, current host, current form (no network)."""
    report = Report(url, None)
    check = check_link(url)
    if check is None:
        badge = check_badge_image(url)
        if badge is not None:
            problem, current = badge
            report.findings.append(
                Finding(url, 0, problem.severity, problem.code, problem.message, current)
            )
            return report
        report.findings.append(
            Finding(
                url,
                0,
                "error",
                "not-a-binder-link",
                "not a Binder link: expected <hub>/v2/<provider>/<spec>",
            )
        )
        return report
    report.links_checked = 1
    for problem in check.problems:
        fixed = check.fixed if problem.code in _FIXED_BY_REWRITE else None
        report.findings.append(
            Finding(url, 0, problem.severity, problem.code, problem.message, fixed or problem.fix)
        )
    return report


def planned_changes(report: Report) -> list[Change]:
    """The files `--fix` would write, with their bytes before and after (edits whose text
    changed since the report are left out)."""
    if report.root is None:
        return []
    by_file: dict[str, list[Edit]] = {}
    for finding in report.fixable:
        assert finding.edit is not None  # noqa: S101 - `fixable` says so
        by_file.setdefault(finding.path, []).append(finding.edit)
    changes: list[Change] = []
    for rel, edits in sorted(by_file.items()):
        path = report.root / rel
        if any(e.create for e in edits):
            target = _new_file(report, rel)
            if not target.exists():
                changes.append(
                    Change(target, _relative(report.root, target), None, _encode(edits[0].new))
                )
            continue
        try:
            before = path.read_bytes()
        except OSError:
            continue
        text = _decode(before)
        unique = sorted({(e.start, e.end): e for e in edits}.values(), key=lambda e: e.start)
        pieces: list[str] = []
        at = 0
        for edit in unique:
            if edit.start < at or text[edit.start : edit.end] != edit.old:
                continue  # overlapping, or the file changed since
            pieces += [text[at : edit.start], edit.new]
            at = edit.end
        pieces.append(text[at:])
        after = _encode("".join(pieces))
        if after != before:
            changes.append(Change(path, rel, before, after))
    return changes


def _new_file(report: Report, rel: str) -> Path:
    assert report.root is not None  # noqa: S101 - checked by the caller
    folder = report.configuration.binder_dir if report.configuration else ""
    return report.root / folder / "requirements.txt" if rel in (".", folder) else report.root / rel


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def write_changes(changes: Iterable[Change]) -> None:
    """Write each change (its bytes exactly; a new file is created, never overwritten)."""
    for change in changes:
        if change.before is None:
            with change.path.open("xb") as handle:
                handle.write(change.after)
        else:
            change.path.write_bytes(change.after)


publish(__name__)  # public classes show as binderfed_sdk.doctor.X
