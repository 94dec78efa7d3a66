"""`binderfed sandbox launch` of your own repository, and the sandbox's housekeeping: state
folders side by side, privacy, configurable-http-proxy installed without root.

Against the real sandbox (real JupyterHub, configurable-http-proxy, the real culler, our build
service), one member where two are not needed. Every sandbox has its own state folder in
tmp and is stopped by PID.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest
from servers import running_sandbox, sandbox_hub_api

from binderfed_sdk.cli._main import main as cli_main
from binderfed_sdk.sandbox import _local, _proxy, manager

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(members=1, max_age=3600)
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), settings) as state:
        yield state


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@localhost",
         *args],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> str:
    """A fresh git repository at `path` with `files` committed; returns the commit."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        git(path, "init", "-q", "-b", "main")
    commit(path, files)
    return git(path, "rev-parse", "HEAD")


def commit(path: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (path / name).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "change")
    return git(path, "rev-parse", "HEAD")


def launched(out: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(out.splitlines()[-1])["session"]
    return summary


def read_in_session(summary: dict[str, Any], name: str) -> str:
    """A file of the session's home, through its Jupyter server's contents API."""
    answer = httpx.get(
        summary["url"] + f"api/contents/{name}",
        params={"content": "1", "type": "file", "format": "text"},
        headers={"Authorization": f"token {summary['token']}"},
        timeout=10,
    )
    answer.raise_for_status()
    content: str = answer.json()["content"]
    return content


def stop_session(state: manager.SandboxState, summary: dict[str, Any]) -> None:
    username, server = summary["url"].rstrip("/").split("/")[-2:]
    with sandbox_hub_api(state, summary["member"], timeout=30) as api:
        api.delete(f"users/{username}/servers/{server}")
        api.delete(f"users/{username}")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- launching a local repository ----------------------------------------------------------


def test_sandbox_launch_of_a_fresh_repository(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    repo = tmp_path / "mine"
    head = make_repo(repo, {"requirements.txt": "", "hello.txt": "committed\n"})
    code, out, err = run("sandbox", "launch", str(repo), "--json", "--show-token")
    assert code == 0, err
    summary = launched(out)
    try:
        assert summary["member"] == "alpha"
        assert summary["commit"] == head
        assert summary["launched"] == f"commit {head[:12]} (HEAD)"
        assert summary["spec"] == _local.local_spec(str(repo.resolve()), "HEAD")
        assert summary["memory_limit_bytes"] == 2 * 1024**3
        assert summary["seconds_left"] > 0
        assert read_in_session(summary, "hello.txt") == "committed\n"
    finally:
        stop_session(sandbox, summary)
    assert "this sandbox may build" in err
    allowed = Path(sandbox.dir) / "allowed.json"
    assert json.loads(allowed.read_text())["repositories"] == [str(repo.resolve())]
    assert mode(allowed) == 0o600
    # again: already allowed, the same summary for people, token masked
    code, out, err = run("sandbox", "launch", str(repo / "."))
    assert code == 0, err
    assert "may build" not in err
    lines = dict(line.split(maxsplit=1) for line in out.splitlines() if " " in line)
    assert lines["member"].startswith("alpha (")
    assert lines["launched"] == f"commit {head[:12]} (HEAD)"
    assert "token     ********** (--show-token prints it)" in out
    assert "time left " in out
    assert "memory    " in out
    assert "GiB" in out
    assert json.loads(allowed.read_text())["repositories"] == [str(repo.resolve())]
    username = out.split("/user/")[1].split("/")[0]
    stop_session(sandbox, {"url": f"http://x/user/{username}/binder/", "member": "alpha"})


def test_ref_launches_an_older_commit(sandbox: manager.SandboxState, tmp_path: Path) -> None:
    repo = tmp_path / "history"
    first = make_repo(repo, {"requirements.txt": "", "version.txt": "one\n"})
    commit(repo, {"version.txt": "two\n"})
    git(repo, "tag", "v1", first)
    for ref in (first[:10], "v1"):
        code, out, err = run("sandbox", "launch", str(repo), "--ref", ref, "--json",
                             "--show-token")  # fmt: skip
        assert code == 0, err
        summary = launched(out)
        try:
            assert summary["commit"] == first
            assert summary["launched"] == f"commit {first[:12]}"
            assert read_in_session(summary, "version.txt") == "one\n"
        finally:
            stop_session(sandbox, summary)


def test_bad_input_is_a_clear_usage_error_and_launches_nothing(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    repo = tmp_path / "refs"
    make_repo(repo, {"requirements.txt": ""})
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    plain = tmp_path / "plain"
    plain.mkdir()
    users_before = {user["name"] for user in hub_users(sandbox)}
    cases = [
        ((str(repo), "--ref", "no-such-branch"), "--ref 'no-such-branch' names no commit"),
        ((str(repo), "--ref=--upload-pack=x"), "is not a commit-ish"),
        ((str(empty),), "has no commits yet"),
        ((str(plain),), "is not in a git repository"),
        ((str(tmp_path / "missing"),), "no such folder"),
    ]
    for argv, words in cases:
        code, out, err = run("sandbox", "launch", *argv)
        assert code == 2, (argv, err)
        assert out == ""
        assert words in err
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    assert {user["name"] for user in hub_users(sandbox)} <= users_before, "a server started"


def hub_users(state: manager.SandboxState) -> list[dict[str, Any]]:
    with sandbox_hub_api(state, "alpha") as api:
        users: list[dict[str, Any]] = api.get("users").json()
    return users


def test_working_tree_launch_shows_uncommitted_changes(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    repo = tmp_path / "work"
    head = make_repo(
        repo, {"requirements.txt": "", "a.txt": "committed\n", ".gitignore": "secret.txt\n"}
    )
    (repo / "a.txt").write_text("edited, not committed\n")
    (repo / "new.txt").write_text("untracked\n")
    (repo / "secret.txt").write_text("ignored\n")
    git(repo, "add", "new.txt")  # staged: the user's index must stay exactly so
    status_before = git(repo, "status", "--porcelain")
    index_before = (repo / ".git" / "index").read_bytes()
    code, out, err = run("sandbox", "launch", str(repo), "--working-tree", "--json",
                         "--show-token")  # fmt: skip
    assert code == 0, err
    summary = launched(out)
    try:
        assert summary["launched"] == f"working tree: uncommitted changes on top of {head[:12]}"
        assert read_in_session(summary, "a.txt") == "edited, not committed\n"
        assert read_in_session(summary, "new.txt") == "untracked\n"
        with pytest.raises(httpx.HTTPStatusError):
            read_in_session(summary, "secret.txt")  # ignored files stay out, as in a commit
    finally:
        stop_session(sandbox, summary)
    snapshot = summary["commit"]
    # the user's branch, index and files are untouched; the snapshot stays reachable
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert git(repo, "rev-parse", _local.WORKING_TREE_REF) == snapshot
    assert git(repo, "rev-parse", f"{snapshot}^") == head
    message = git(repo, "log", "-1", "--format=%B", snapshot)
    assert message.splitlines()[-1] == f"Binderfed-Working-Tree: {head}"
    # the same files on the same HEAD: the same commit (so the build cache hits)
    assert _local.snapshot(repo).commit == snapshot
    # a clean working tree launches HEAD itself
    git(repo, "stash", "-q", "--include-untracked")
    assert _local.snapshot(repo) == _local.LocalLaunch(str(repo.resolve()), head, head)


def test_launch_a_local_path_or_file_url_with_federation_sandbox(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    repo = tmp_path / "by-launch"
    head = make_repo(repo, {"requirements.txt": ""})
    code, out, err = run("launch", str(repo), "--federation", "sandbox", "--json", "--shutdown")
    assert code == 0, err
    assert f"may build {repo.resolve()} from now on" in err
    summary = launched(out)
    assert summary["image"].endswith(":" + head)
    assert summary["member"] == "alpha"
    assert summary["time_left"]
    spec = _local.local_spec(str(repo.resolve()), "HEAD")
    code, out, err = run("launch", spec, "--federation", "sandbox", "--json", "--shutdown")
    assert code == 0, err
    assert launched(out)["spec"] == spec


def test_the_demo_is_package_data() -> None:
    assert manager.DEMO_REPO.is_relative_to(Path(manager.__file__).parent)
    assert {"README.md", "requirements.txt", "index.ipynb"} <= {
        p.name for p in manager.DEMO_REPO.iterdir()
    }


# --- privacy ----------------------------------------------------------------------------------


def test_the_state_folder_and_its_secrets_are_private(sandbox: manager.SandboxState) -> None:
    folder = Path(sandbox.dir)
    assert mode(folder) == 0o700
    member = folder / "alpha"
    assert mode(member) == 0o700
    secret_files = [
        folder / "state.json",
        folder / "federation.json",
        member / "builder.json",
        member / "jupyterhub_config.py",
        # written by JupyterHub itself, under the umask the sandbox starts it with
        member / "jupyterhub.sqlite",
        member / "cookie_secret",
        *folder.rglob("*.log"),
    ]
    present = [path for path in secret_files if path.exists()]
    assert folder / "state.json" in present
    assert {member / "jupyterhub.sqlite", member / "cookie_secret"} <= set(present)
    for path in present:
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"


# --- side by side -----------------------------------------------------------------------------


def test_two_sandboxes_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the proxy as the suite found it, before the cache folder moves to tmp
    proxy = _proxy.find_proxy(lambda _: None)
    monkeypatch.setenv("PATH", f"{Path(proxy).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(manager.ENV_DIR, raising=False)
    monkeypatch.delenv(manager.ENV_NAME, raising=False)
    one_dir = tmp_path / "cache" / "binderfed" / "sandboxes" / "one"
    one_dir.mkdir(parents=True, mode=0o755)  # left readable by someone: fixed on up
    (one_dir / "redirector.log").write_text("")
    (one_dir / "redirector.log").chmod(0o644)
    repo = tmp_path / "up-front"
    make_repo(repo, {"requirements.txt": ""})
    states: dict[str, manager.SandboxState] = {}
    try:
        for name, extra in (("one", ["--repo", str(repo / ".")]), ("two", [])):
            code, out, err = run(
                "sandbox", "up", "--name", name, "--members", "1", "--json", *extra
            )
            assert code == 0, err
            states[name] = manager.SandboxState.model_validate_json(out)
        one, two = states["one"], states["two"]
        assert one.dir == str(one_dir)
        assert manager.allowed_repositories(one_dir) == [str(repo.resolve())]
        assert manager.allowed_repositories(Path(two.dir)) == []
        assert mode(one_dir) == 0o700
        assert mode(one_dir / "redirector.log") == 0o600
        assert set(one.pids).isdisjoint(two.pids)
        code, out, _ = run("sandbox", "status", "--name", "two", "--json")
        assert (code, json.loads(out)["redirector"]) == (0, two.redirector_url)
        # other commands find a named sandbox through $BINDERFED_SANDBOX
        monkeypatch.setenv(manager.ENV_NAME, "two")
        code, out, err = run("status", "--federation", "sandbox", "--json")
        assert code == 0, err
        assert list(json.loads(out)["members"]) == ["alpha"]
        assert manager.read_state().dir == two.dir
        monkeypatch.delenv(manager.ENV_NAME)

        code, out, err = run("sandbox", "down", "--name", "one")
        assert code == 0, err
        assert out.startswith("stopped ")
        assert not [pid for pid in one.pids if manager.pid_alive(pid)]
        # the other one is untouched: every process alive, its redirector answering
        assert all(manager.pid_alive(pid) for pid in two.pids)
        active = httpx.get(two.redirector_url + "active_hosts", timeout=5).json()
        assert set(active["active_hosts"]) == {"alpha"}
        code, out, _ = run("sandbox", "status", "--name", "one")
        expected = f"no sandbox is running in {one_dir} (start one: binderfed sandbox up)\n"
        assert (code, out) == (0, expected)
        code, out, _ = run("sandbox", "down", "--name", "one")
        assert (code, out) == (0, f"nothing to stop: no sandbox is running in {one_dir}\n")
        code, out, _ = run("sandbox", "down", "--name", "two", "--json")
        assert (code, set(two.pids) - set(json.loads(out)["stopped"])) == (0, set())
        states.clear()
    finally:
        for state in states.values():
            manager.down(folder=Path(state.dir))


def test_down_and_status_with_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(manager.ENV_DIR, str(tmp_path / "none"))
    code, out, _ = run("sandbox", "status")
    assert code == 0
    assert out.startswith("no sandbox is running in ")
    code, out, _ = run("sandbox", "status", "--json")
    assert code == 0
    assert json.loads(out)["running"] is False
    code, out, _ = run("sandbox", "down", "--json")
    assert code == 0
    assert json.loads(out)["stopped"] == []
    assert manager.down() == []
    assert not (tmp_path / "none").exists()  # asking created nothing
    # a state file whose processes are gone: nothing runs either
    stale = manager.SandboxState(
        dir=str(tmp_path / "none"),
        redirector_url="http://127.0.0.1:1/",
        redirector=manager.ProcessRecord(name="redirector", pid=os.getpid(), started=1.0),
        members=[],
        settings=manager.SandboxSettings(),
        federation_file=str(tmp_path / "none" / "federation.json"),
        repos_dir=str(tmp_path / "none" / "repos"),
        started_at=0,
    )  # our own PID, but another start time: a reused PID, never taken for the sandbox's
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "state.json").write_text(stale.model_dump_json())
    code, out, _ = run("sandbox", "status")
    assert (code, out.startswith("no sandbox is running in ")) == (0, True)
    code, out, _ = run("sandbox", "down", "--json")
    assert (code, json.loads(out)["stopped"]) == (0, [])
    assert not (tmp_path / "none" / "state.json").exists()
    code, _, err = run("sandbox", "status", "--name", "../x")
    assert code == 3
    assert "sandbox name '../x' is not allowed" in err


def test_a_folder_holding_other_things_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "home"
    folder.mkdir(mode=0o755)
    (folder / "notes.txt").write_text("mine\n")
    (folder / "notes.txt").chmod(0o644)
    monkeypatch.setenv(manager.ENV_DIR, str(folder))
    code, out, err = run("sandbox", "up", "--members", "1")
    assert (code, out) == (3, "")
    assert "holds other things than a sandbox" in err
    assert (mode(folder), mode(folder / "notes.txt")) == (0o755, 0o644)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


# --- configurable-http-proxy without root ------------------------------------------------------


def path_without_proxy(tmp_path: Path) -> str:
    """$PATH with every folder that holds configurable-http-proxy replaced by a copy of it
    (symlinks) without that command: node, npm and the rest stay where they were."""
    folders = []
    for index, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        folder = Path(entry)
        if not (folder / _proxy.PROXY).exists():
            folders.append(entry)
            continue
        shim = tmp_path / f"bin-{index}"
        shim.mkdir()
        for item in folder.iterdir():
            if item.name != _proxy.PROXY:
                (shim / item.name).symlink_to(item)
        folders.append(str(shim))
    return os.pathsep.join(folders)


def test_up_installs_the_proxy_into_the_cache_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", path_without_proxy(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert shutil.which(_proxy.PROXY) is None
    said: list[str] = []
    found: list[str] = []

    def find() -> None:
        found.append(_proxy.find_proxy(said.append))

    # two at once: one installs, the other waits for it (the lock)
    threads = [threading.Thread(target=find) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_proxy.LOCK_TIMEOUT + 10)
    target = tmp_path / "cache" / "binderfed" / "node" / "node_modules" / ".bin" / _proxy.PROXY
    assert found == [str(target)] * 2
    assert len([line for line in said if line.startswith("installing ")]) == 1
    assert any(line.startswith("installed ") for line in said)
    assert not list((tmp_path / "cache" / "binderfed").glob("node.installing-*"))
    # a sandbox runs on it
    state = manager.up(manager.SandboxSettings(members=1), folder=tmp_path / "sb")
    try:
        proxy_pid = state.members[0].proxy_pid
        assert proxy_pid is not None
        command = " ".join(psutil.Process(proxy_pid).cmdline())
        assert str(tmp_path / "cache" / "binderfed" / "node") in command
    finally:
        manager.down(folder=tmp_path / "sb")
    # from nothing: the demo starts a sandbox, launches, and --down stops it all
    monkeypatch.setenv(manager.ENV_DIR, str(tmp_path / "demo"))
    code, out, err = run("sandbox", "demo", "--members", "1", "--down", "--json")
    assert code == 0, err
    summary = launched(out)
    assert summary["launched"].endswith("(HEAD)")
    assert summary["repository"].endswith("/repos/binderfed/demo")
    assert "starting the sandbox" in err
    assert not (tmp_path / "demo" / "state.json").exists()


def test_without_npm_a_clear_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(manager.ENV_DIR, str(tmp_path / "sb"))
    code, out, err = run("sandbox", "up", "--members", "1")
    assert code == 3
    assert out == ""
    assert err.startswith("binderfed: error: configurable-http-proxy is not on the PATH")
    assert "install Node.js with npm" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sb" / "state.json").exists()
