"""Local repositories for the sandbox: the commit to launch, the spec naming it, and a
snapshot commit of a working tree.

Errors in what the user gave (no such folder, no git repository, a ref naming no commit) are
`SpecError`s (exit code 2); git failing or timing out is a `SandboxError`.

A local repository is launched with `git/<quote("file://" + realpath, safe="")>/<ref>`. A
working-tree launch first records the files as they are (tracked and untracked, not ignored)
as a commit on top of HEAD, through a temporary index so the user's index, branches and files
are untouched; its author and committer (dates included) are HEAD's, so the same files on the
same HEAD give the same commit (and the build cache hits). It is kept alive under
`refs/binderfed/working-tree`, and its message ends with a `Binderfed-Working-Tree:` trailer
naming HEAD (the build service shows it as uncommitted changes on top of that commit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from binderfed_sdk._errors import SandboxError, SpecError

__all__ = ["LocalLaunch", "local_spec", "repository_root", "resolve", "snapshot"]

GIT_TIMEOUT = 60.0
#: `git add -A` hashes every changed file of the working tree
ADD_TIMEOUT = 300.0
WORKING_TREE_REF = "refs/binderfed/working-tree"
TRAILER = "Binderfed-Working-Tree"
#: the identity of a snapshot of a repository without commits (there is no HEAD to copy)
_NO_HEAD_IDENTITY = ("binderfed", "sandbox@localhost", "2000-01-01T00:00:00Z")


@dataclass(frozen=True, slots=True)
class LocalLaunch:
    """What `binderfed sandbox launch` launches from a local repository."""

    #: the repository's top level, real path
    path: str
    #: the spec's ref: "HEAD", or a commit
    ref: str
    #: the commit it resolves to now
    commit: str
    #: a working-tree snapshot: the HEAD it sits on ("none" without commits); else None
    base: str | None = None

    @property
    def spec(self) -> str:
        return local_spec(self.path, self.ref)

    def describe(self) -> str:
        """What is launched, in words."""
        if self.base is not None:
            base = "a repository without commits" if self.base == "none" else self.base[:12]
            return f"working tree: uncommitted changes on top of {base}"
        if self.ref == "HEAD":
            return f"commit {self.commit[:12]} (HEAD)"
        return f"commit {self.commit[:12]}"


def local_spec(path: str, ref: str) -> str:
    """The spec of the local repository at `path` (a real path) at `ref`."""
    return f"git/{quote('file://' + path, safe='')}/{ref}"


def _git(
    repo: str, *args: str, env: dict[str, str] | None = None, timeout: float = GIT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", repo, *args],
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        msg = "git is not installed (the sandbox reads local repositories with it)"
        raise SandboxError(msg) from None
    except subprocess.TimeoutExpired:
        msg = f"git {args[0]} in {repo} did not finish within {timeout:g} s"
        raise SandboxError(msg) from None


def _git_out(
    repo: str, *args: str, env: dict[str, str] | None = None, timeout: float = GIT_TIMEOUT
) -> str:
    done = _git(repo, *args, env=env, timeout=timeout)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        msg = f"git {args[0]} in {repo} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
        raise SandboxError(msg)
    return done.stdout.strip()


def repository_root(path: str | os.PathLike[str]) -> str:
    """The real path of the top level of the git repository at (or above) `path`."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        msg = f"{path}: no such folder"
        raise SpecError(msg)
    done = _git(str(folder), "rev-parse", "--show-toplevel")
    top = done.stdout.strip()
    if done.returncode != 0 or not top:
        msg = f"{path} is not in a git repository (create one: git init, git add, git commit)"
        raise SpecError(msg)
    return os.path.realpath(top)


def _commit_of(root: str, ref: str) -> str | None:
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and sha else None


def resolve(path: str | os.PathLike[str], ref: str | None = None) -> LocalLaunch:
    """The commit of `path`'s repository to launch: HEAD, or `ref` (any commit-ish)."""
    root = repository_root(path)
    if ref is None:
        commit = _commit_of(root, "HEAD")
        if commit is None:
            msg = (
                f"{root} has no commits yet: commit first, or launch the files as they are "
                "with --working-tree"
            )
            raise SpecError(msg)
        return LocalLaunch(root, "HEAD", commit)
    if not ref or ref.startswith("-") or any(ch.isspace() for ch in ref):
        msg = f"--ref {ref!r} is not a commit-ish"
        raise SpecError(msg)
    commit = _commit_of(root, ref)
    if commit is None:
        msg = f"--ref {ref!r} names no commit in {root} (see: git log --oneline)"
        raise SpecError(msg)
    # the commit itself, not the name: a branch name with '/' is no one-segment git ref
    return LocalLaunch(root, commit, commit)


def snapshot(path: str | os.PathLike[str]) -> LocalLaunch:
    """A commit of the working tree as it is (see the module's docstring); HEAD itself when
    nothing differs from it."""
    root = repository_root(path)
    head = _commit_of(root, "HEAD")
    with tempfile.TemporaryDirectory(prefix="binderfed-index-") as scratch:
        index = Path(scratch) / "index"
        real_index = Path(root, _git_out(root, "rev-parse", "--git-path", "index"))
        if real_index.is_file():  # its stat data spares re-hashing unchanged files
            shutil.copyfile(real_index, index)
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        _git_out(root, "add", "--all", "--", ".", env=env, timeout=ADD_TIMEOUT)
        tree = _git_out(root, "write-tree", env=env)
    if head is not None and tree == _git_out(root, "rev-parse", f"{head}^{{tree}}"):
        return LocalLaunch(root, head, head)  # a clean working tree: HEAD's own commit
    if head is not None:
        fields = _git_out(
            root, "log", "-1", "--date=raw", "--format=%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd",
            head,
        ).split("\0")  # fmt: skip
        author, committer = fields[:3], fields[3:]
    else:
        author = committer = list(_NO_HEAD_IDENTITY)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": author[2],
        "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1],
        "GIT_COMMITTER_DATE": committer[2],
    }  # fmt: skip
    message = (
        "The working tree, uncommitted changes included (binderfed sandbox launch "
        f"--working-tree)\n\n{TRAILER}: {head or 'none'}\n"
    )
    parents = ["-p", head] if head is not None else []
    commit = _git_out(root, "commit-tree", "--no-gpg-sign", tree, *parents, "-m", message, env=env)
    _git_out(root, "update-ref", "-m", "binderfed sandbox launch --working-tree",
             WORKING_TREE_REF, commit)  # fmt: skip
    return LocalLaunch(root, commit, commit, base=head or "none")
