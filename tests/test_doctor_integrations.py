"""The doctor's integrations, run as users run them: the pre-commit hook through `pre-commit
try-repo` (it installs this package in its own environment), and the GitHub Action's script
against the sandbox federation (members read from its redirector's `/active_hosts`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from servers import active_servers, running_sandbox

import binderfed_sdk
from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Iterator

PROJECT = Path(binderfed_sdk.__file__).resolve().parent.parent
ACTION = PROJECT / "examples" / "github-action"
DEPARTED = (
    "[![Binder](https://mybinder.org/badge_logo.svg)](https://gke.mybinder.org/v2/gh/o/r/HEAD)\n"
)
CURRENT = "[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/o/r/HEAD)\n"


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip


def hook_repository(target: Path) -> Path:
    """This checkout's package as a hook repository (pre-commit installs a committed tree)."""
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "*.pyc")
    for name in ("binderfed_sdk", "jupyter_ext"):
        shutil.copytree(PROJECT / name, target / name, ignore=ignore)
    for name in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        ".pre-commit-hooks.yaml",
        "js/install.json",
    ):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT / name, target / name)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "hook")
    return target


def try_repo(hooks: Path, repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), "binderfed-doctor",
         "--all-files"],
        cwd=repo, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"},
    )  # fmt: skip


def test_pre_commit_hook_through_try_repo(tmp_path: Path) -> None:
    hooks = hook_repository(tmp_path / "hooks")
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(DEPARTED)
    (repo / "requirements.txt").write_text("")
    git(repo, "add", "-A")
    failed = try_repo(hooks, repo, tmp_path / "home")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "README.md:1: error:" in failed.stdout
    assert "[departed-host]" in failed.stdout
    assert "+" + CURRENT.rstrip("\n") in failed.stdout  # the diff --fix would apply
    assert (repo / "README.md").read_text() == DEPARTED  # --check writes nothing
    (repo / "README.md").write_text(CURRENT)
    git(repo, "add", "-A")
    passed = try_repo(hooks, repo, tmp_path / "home")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "binderfed doctor" in passed.stdout
    assert "Passed" in passed.stdout


# --- the GitHub Action's script ------------------------------------------------------------------


def run_action(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ACTION / "prime.py"), *args],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_action_files_are_a_composite_action() -> None:
    action = yaml.safe_load((ACTION / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    script = action["runs"]["steps"][-1]["run"]
    assert '"$GITHUB_ACTION_PATH/prime.py"' in script
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "binderfed-doctor"
    assert hooks[0]["entry"] == "binderfed doctor --check"


def test_action_does_not_prime_a_repository_the_doctor_fails(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(CURRENT)
    # no environment file; a front door that nothing listens on is never asked
    done = run_action(
        "--path", str(repo), "--front-door", "http://127.0.0.1:9", "--spec", "gh/o/r/HEAD"
    )
    assert done.returncode == 1
    assert "[no-environment]" in done.stdout
    assert "not priming" in done.stdout


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(members=2, idle_timeout=600, max_age=3600)
    with running_sandbox(tmp_path_factory.mktemp("doctor-sandbox"), settings) as state:
        yield state


def test_action_primes_every_member_and_leaves_nothing_running(
    sandbox: manager.SandboxState,
) -> None:
    repo = Path(sandbox.repos_dir) / "tests" / "primed"
    sha = manager.make_repository(
        repo, files={"requirements.txt": "", "README.md": CURRENT.replace("o/r", "tests/primed")}
    )
    done = run_action(
        "--path", str(repo), "--front-door", sandbox.redirector_url,
        env={"GITHUB_REPOSITORY": "tests/primed", "GITHUB_SHA": sha},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    names = [m.name for m in sandbox.members]
    line = next(x for x in done.stdout.splitlines() if x.startswith("priming "))
    assert line.startswith(f"priming gh/tests/primed/{sha} on ")
    assert sorted(line.rsplit(" on ", 1)[1].split(", ")) == sorted(names)
    for name in names:
        assert f"  {name}: ok (" in done.stdout
    assert active_servers(sandbox) == []
