"""The local repository, asked through `git` (every call bounded in time)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from binderfed_sdk._errors import SpecError
from binderfed_sdk.spec._spec import parse_repo_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["GIT_TIMEOUT", "Repository", "open_repository"]

#: seconds any one git command may take
GIT_TIMEOUT: Final = 30.0
#: folders never searched for documents outside a git repository
#: refs whose whole file list is read; links at more refs than that are looked up one by one
_LISTED_REFS: Final = 16
_SKIP_DIRS: Final = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", ".tox"})


def _git(root: Path, *args: str, stdin: str | None = None) -> str | None:
    """git's output, or None when git fails, is missing or runs past its time."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@dataclass
class Repository:
    """A folder to check: its files, and when it is a git repository, what git knows."""

    root: Path
    is_git: bool
    #: files and folders relative to root, '/'-separated (tracked and untracked, not ignored)
    files: set[str]
    folders: set[str]
    #: (provider, repo lower-cased) of each remote, and the folder itself as a `git` spec
    identities: set[tuple[str, str]] = field(default_factory=set)
    branch: str | None = None
    #: git's file modes of tracked files ("100755": executable)
    modes: dict[str, str] = field(default_factory=dict)

    def is_this(self, provider: str, repo: str) -> bool:
        return (provider, repo.lower()) in self.identities or (
            provider == "git" and _same_path(repo, self.root)
        )

    def worktree_refs(self) -> set[str]:
        return {"HEAD"} | ({self.branch} if self.branch else set())

    def in_worktree(self, path: str) -> bool:
        path = path.strip("/")
        return path in self.files or path in self.folders

    def exist_at(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool | None]:
        """For each (ref, path): True/False, or None when the ref is not in this clone."""
        pairs = list(dict.fromkeys(pairs))
        if not pairs or not self.is_git:
            return dict.fromkeys(pairs)
        refs = list(dict.fromkeys(ref for ref, _ in pairs))
        # a few refs: each one's whole listing, once (git looks up `ref:path` by reading the
        # tree again each time, which grows with the square of the files); many refs: ask
        listed = {ref: self._tree(ref) for ref in refs[:_LISTED_REFS]}
        result: dict[tuple[str, str], bool | None] = {}
        rest: list[tuple[str, str]] = []
        for ref, path in pairs:
            if ref in listed:
                tree = listed[ref]
                result[ref, path] = None if tree is None else path.strip("/") in tree
            else:
                rest.append((ref, path))
        result.update(self._ask(rest))
        return result

    def _tree(self, ref: str) -> set[str] | None:
        """Every file and folder at `ref`, or None when the ref is not in this clone."""
        if ref.startswith("-"):
            return None
        out = _git(self.root, "ls-tree", "-r", "-z", "--name-only", f"{ref}^{{commit}}", "--")
        if out is None:
            return None
        files = {name for name in out.split("\0") if name}
        return files | _folders_of(files)

    def _ask(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool | None]:
        if not pairs:
            return {}
        refs = list(dict.fromkeys(ref for ref, _ in pairs))
        lines = [f"{ref}^{{commit}}" for ref in refs] + [f"{ref}:{path}" for ref, path in pairs]
        if any("\n" in line for line in lines):
            return dict.fromkeys(pairs)
        out = _git(self.root, "cat-file", "--batch-check", stdin="".join(f"{x}\n" for x in lines))
        answers = [] if out is None else out.splitlines()
        if len(answers) != len(lines):
            return dict.fromkeys(pairs)
        known = {ref: not answers[i].endswith(" missing") for i, ref in enumerate(refs)}
        result: dict[tuple[str, str], bool | None] = {}
        for i, pair in enumerate(pairs):
            answer = answers[len(refs) + i]
            result[pair] = not answer.endswith(" missing") if known[pair[0]] else None
        return result


def _same_path(repo: str, root: Path) -> bool:
    try:
        return Path(repo).resolve() == root.resolve()
    except (OSError, ValueError):
        return False


def _walk(root: Path) -> tuple[set[str], set[str]]:
    files: set[str] = set()
    folders: set[str] = set()
    for here, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        rel = Path(here).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        folders.update(prefix + d for d in dirs)
        files.update(prefix + n for n in names)
    return files, folders


def _folders_of(files: Iterable[str]) -> set[str]:
    folders: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders


def _identities(remotes: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for line in remotes.splitlines():
        pieces = line.split()
        if len(pieces) < 2:
            continue
        try:
            spec, _ = parse_repo_url(pieces[1])
        except SpecError:
            continue
        found.add((str(spec.provider), spec.repo.lower()))
    return found


def open_repository(path: Path) -> Repository:
    """The repository at (or around) `path`: a git work tree's top level, else the folder."""
    top = _git(path, "rev-parse", "--show-toplevel")
    if top is None:
        files, folders = _walk(path)
        return Repository(path, is_git=False, files=files, folders=folders)
    root = Path(top.strip())
    listed = _git(root, "ls-files", "-z", "-co", "--exclude-standard") or ""
    deleted = _git(root, "ls-files", "-z", "-d") or ""  # tracked, gone from the working tree
    files = set(listed.split("\0")) - set(deleted.split("\0")) - {""}
    staged = _git(root, "ls-files", "-z", "-s") or ""
    modes: dict[str, str] = {}
    for entry in staged.split("\0"):
        meta, _, name = entry.partition("\t")
        if name:
            modes[name] = meta.split(" ", 1)[0]
    branch = (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    return Repository(
        root,
        is_git=True,
        files=files,
        folders=_folders_of(files),
        identities=_identities(_git(root, "remote", "-v") or ""),
        branch=branch if branch and branch != "HEAD" else None,
        modes=modes,
    )


def relative_files(repo: Repository, paths: Sequence[Path]) -> list[str]:
    """The given files as paths relative to the repository ('/'-separated), existing only."""
    found: list[str] = []
    root = repo.root.resolve()
    for path in paths:
        try:
            rel = path.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        if path.is_file():
            found.append(rel)
    return found
