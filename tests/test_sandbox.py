"""End to end through the sandbox federation: real JupyterHubs, real configurable-http-proxy,
the real jupyterhub-idle-culler, our build service and redirector, all on 127.0.0.1.

One sandbox serves the module (starting one costs ~15 s); the tests that break it (a member's
hub stopped, `down`) come last, in file order.
"""

from __future__ import annotations

import io
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import running_sandbox, sandbox_hub_api

from binderfed_sdk import BinderHub, BuildEvent, BuildFailed, Session
from binderfed_sdk.cli._main import main as cli_main
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._routing import Pinned
from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Iterator

IDLE_TIMEOUT = 25.0
CULL_EVERY = 2.0
ACTIVITY_INTERVAL = 2.0
CHECK_PERIOD = 5.0  # the sandbox redirector's health-check period


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    # without configurable-http-proxy on the PATH, `up` installs it into the user's cache
    settings = manager.SandboxSettings(
        members=2,
        idle_timeout=IDLE_TIMEOUT,
        cull_every=CULL_EVERY,
        activity_interval=ACTIVITY_INTERVAL,
        max_age=3600,
    )
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), settings) as state:
        yield state


def repository(state: manager.SandboxState, name: str, files: dict[str, str]) -> str:
    """A fresh local repository `gh/tests/<name>`; returns its commit."""
    return manager.make_repository(Path(state.repos_dir) / "tests" / name, files=files)


def running_servers(state: manager.SandboxState, wait: float = 5.0) -> dict[str, int]:
    """Session servers whose process is alive (user -> PID). The hub notices a server that
    stopped itself only at its next poll, so the process is what is checked, for up to
    `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        alive: dict[str, int] = {}
        for member in state.members:
            if not manager.pid_alive(member.hub.pid):
                continue
            with sandbox_hub_api(state, member.name) as api:
                for user in api.get("users").json():
                    detail = api.get(f"users/{user['name']}").json()
                    for server in (detail.get("servers") or {}).values():
                        pid = (server.get("state") or {}).get("pid")
                        if pid and manager.pid_alive(pid):
                            alive[user["name"]] = pid
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.2)


def server_environment(state: manager.SandboxState, session: Session) -> dict[str, str]:
    """The environment of the session's process, read from /proc (an independent source)."""
    username, server = session.url.rstrip("/").split("/")[-2:]
    with sandbox_hub_api(state, session.member or "") as api:
        user = api.get(f"users/{username}").json()
    pid = user["servers"][server]["state"]["pid"]
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


# --- launching ------------------------------------------------------------------------------


def test_launch_through_the_redirector(sandbox: manager.SandboxState) -> None:
    commit = repository(sandbox, "first", {"requirements.txt": "httpx\n", "a.txt": "hello\n"})
    events: list[tuple[str, BuildEvent]] = []
    with Federation("sandbox") as fed:
        session = fed.launch(
            "gh/tests/first/HEAD", on_event=lambda m, e: events.append((m, e)), via_redirector=True
        )
    try:
        assert session.member in {"alpha", "beta"}
        assert {m for m, _ in events} == {session.member}
        lines = [e.log_line for _, e in events if e.phase == "building"]
        assert any("Requirement already satisfied: httpx" in line for line in lines)  # real pip
        assert events[-1][1].is_ready
        assert session.status().kernels == 0
        assert httpx.get(session.url + "api/status").status_code == 403  # no token
        env = server_environment(sandbox, session)
        assert env["BINDER_REPO_URL"] == "https://github.com/tests/first"
        assert env["BINDER_REF_URL"].endswith(f"/tree/{commit}")
        assert env["BINDER_PERSISTENT_REQUEST"] == f"v2/gh/tests/first/{commit}"
        assert env["BINDER_LAUNCH_HOST"] == sandbox.redirector_url
        assert env["BINDERFED_MEMBER"] == session.member
        assert env["MEM_LIMIT"] == str(2 * 1024**3)
        assert env["CPU_LIMIT"] == "1.0"
        assert env["JUPYTER_IMAGE_SPEC"].startswith(f"registry.{session.member}.sandbox")
        # inside the session, its server extension knows where it is and what it may use
        info = session.info()
        assert info.in_binder is True
        assert info.member == session.member
        assert info.federation == "sandbox"
        assert info.repo_url == "https://github.com/tests/first"
        assert info.persistent_link == f"{sandbox.redirector_url}v2/gh/tests/first/{commit}"
        assert info.memory_limit == 2 * 1024**3
        assert info.seconds_left is not None
        assert 0 < info.seconds_left <= IDLE_TIMEOUT
        assert info.cull_reason == "idle"
        assert session.token.get_secret_value() not in info.model_dump_json()
    finally:
        assert session.shutdown()
    assert not running_servers(sandbox)
    assert_no_secret_in_logs(sandbox, session.token.get_secret_value())


def assert_no_secret_in_logs(state: manager.SandboxState, secret: str) -> None:
    logs = list(Path(state.dir).rglob("*.log"))
    assert logs
    for log in logs:
        assert secret not in log.read_text(errors="replace"), f"a token is in {log}"


def build_token(hub_url: str, spec: str) -> str:
    """The build token a hub's /v2/ launch page carries, as a browser would get it."""
    page = httpx.get(hub_url + "v2/" + spec).text
    start = page.index("window.pageConfig = ") + len("window.pageConfig = ")
    token: str = json.loads(page[start : page.index(";</script>", start)])["buildToken"]
    return token


def test_same_commit_again_needs_no_build(sandbox: manager.SandboxState) -> None:
    repository(sandbox, "again", {"requirements.txt": "pydantic\n"})
    url = sandbox.members[0].url
    token = build_token(url, "gh/tests/again/HEAD")
    with BinderHub(url) as hub:
        hub.launch("gh/tests/again/HEAD", build_token=token).shutdown()  # builds
        phases: list[str | None] = []
        started = time.monotonic()
        session = hub.launch("gh/tests/again/HEAD", on_event=lambda e: phases.append(e.phase))
        elapsed = time.monotonic() - started
        session.shutdown()
    assert "building" not in phases
    assert "fetching" not in phases
    assert elapsed < 5.0, f"a cached launch took {elapsed:.1f} s"
    assert_no_secret_in_logs(sandbox, token)
    assert_no_secret_in_logs(sandbox, session.token.get_secret_value())


@pytest.mark.parametrize(
    ("spec", "files", "fragment"),
    [
        ("gh/tests/does-not-exist/HEAD", None, "not found"),
        ("gh/tests/refs/no-such-branch", {"x.txt": "x\n"}, "Could not resolve ref"),
        ("gh/tests/broken/HEAD", {"requirements.txt": "./not-a-project\n"}, "not-a-project"),
    ],
)
def test_failures_leave_nothing_behind(
    sandbox: manager.SandboxState, spec: str, files: dict[str, str] | None, fragment: str
) -> None:
    if files is not None:
        repository(sandbox, spec.split("/")[2], files)
    with BinderHub(sandbox.members[0].url) as hub, pytest.raises(BuildFailed) as failed:
        hub.launch(spec)
    text = str(failed.value) + "\n".join(failed.value.log)
    assert fragment in text
    assert not running_servers(sandbox)
    envs = Path(sandbox.dir) / "cache" / "envs"
    assert not [p for p in envs.glob("*") if ".building-" in p.name]  # no half-built env


def test_cli_demo_prints_member_url_time_and_memory(sandbox: manager.SandboxState) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["sandbox", "demo", "--json"], out=out, err=err)
    assert code == 0, err.getvalue()
    summary = json.loads(out.getvalue().splitlines()[-1])["session"]
    assert summary["member"] in {"alpha", "beta"}
    assert summary["token"] == "**********"
    assert "token=" not in summary["browser_url"]
    assert 0 < summary["seconds_left"] <= IDLE_TIMEOUT
    assert summary["memory_limit_bytes"] == 2 * 1024**3
    url = summary["url"]
    servers = running_servers(sandbox)
    assert len(servers) == 1
    for member in sandbox.members:  # stop what the demo left running
        with sandbox_hub_api(sandbox, member.name) as api:
            for user in api.get("users").json():
                for name in user.get("servers") or {}:
                    api.delete(f"users/{user['name']}/servers/{name}")
    assert url


# --- the idle culler ------------------------------------------------------------------------


def test_the_real_culler_stops_an_idle_session_when_predicted(
    sandbox: manager.SandboxState,
) -> None:
    repository(sandbox, "idle", {"x.txt": "x\n", "requirements.txt": "httpx\n"})
    with BinderHub(sandbox.members[0].url) as hub:
        session = hub.launch("gh/tests/idle/HEAD")
    status = session.status()
    now = datetime.now(UTC)
    predicted_left = IDLE_TIMEOUT - (now - status.last_activity).total_seconds()
    predicted_stop = time.monotonic() + predicted_left
    # no traffic from here on: poll only the hub's API, not the session
    username, server = session.url.rstrip("/").split("/")[-2:]
    deadline = time.monotonic() + IDLE_TIMEOUT + 30
    stopped_at = None
    with sandbox_hub_api(sandbox, sandbox.members[0].name) as api:
        while time.monotonic() < deadline:
            servers = api.get(f"users/{username}").json().get("servers") or {}
            if server not in servers:
                stopped_at = time.monotonic()
                break
            time.sleep(0.5)
    assert stopped_at is not None, "the culler never stopped the idle session"
    slack = CULL_EVERY + ACTIVITY_INTERVAL + 1.0
    assert predicted_stop - 1.0 <= stopped_at <= predicted_stop + slack, (
        f"stopped {stopped_at - predicted_stop:+.1f} s from the prediction"
    )
    session.close()


# --- breaking it (last) ---------------------------------------------------------------------


def test_a_stopped_member_is_dropped_and_launches_fail_over(
    sandbox: manager.SandboxState,
) -> None:
    repository(sandbox, "failover", {"x.txt": "x\n", "requirements.txt": "httpx\n"})
    victim = sandbox.members[1]
    manager._stop_pids([victim.hub.pid], lambda _: None)  # its hub only: the builder stays
    stopped = time.monotonic()
    dropped = None
    while time.monotonic() < stopped + CHECK_PERIOD + 10:
        active = httpx.get(sandbox.redirector_url + "active_hosts").json()["active_hosts"]
        if victim.name not in active:
            dropped = time.monotonic() - stopped
            break
        time.sleep(0.2)
    assert dropped is not None
    assert dropped <= CHECK_PERIOD * 1.05 + 3 + 1  # one period (with jitter) + probe timeout
    with Federation("sandbox", policy=Pinned(victim.name)) as fed:
        health = fed.health()
        assert not health.members[victim.name].healthy
        assert health.members[victim.name].reason == "health"  # its JupyterHub API check fails
        session = fed.launch("gh/tests/failover/HEAD", policy=Pinned(victim.name))
    assert session.member == sandbox.members[0].name
    session.shutdown()


def test_down_stops_every_process_and_frees_the_ports(sandbox: manager.SandboxState) -> None:
    state = manager.read_state()
    alive = {pid for pid in state.pids if manager.pid_alive(pid)}
    assert len(alive) >= 1 + 2 * len(state.members)  # redirector, builders, a hub and proxy
    pids = manager.down()
    assert alive <= set(pids)
    assert not [pid for pid in pids if manager.pid_alive(pid)]
    ports = [sandbox.redirector.port] + [m.builder.port for m in sandbox.members]
    ports += [m.hub.port for m in sandbox.members]
    assert all(manager._port_free(port) for port in ports if port)
    assert not manager.state_path().exists()


# --- without a sandbox ----------------------------------------------------------------------


def test_clear_errors_without_a_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(manager.ENV_DIR, str(tmp_path))
    assert manager.down() == []  # nothing to stop is no error
    assert manager.status() == {"running": False, "state_file": str(tmp_path / "state.json")}
    with pytest.raises(manager.SandboxError, match="no sandbox is running"):
        manager.read_state()
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(manager.SandboxError, match="unreadable"):
        manager.read_state()
    # no configurable-http-proxy, and no npm to install it with
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "state.json").unlink()
    with pytest.raises(manager.SandboxError, match=r"install Node\.js with npm"):
        manager.up()


def test_taken_port_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(manager.ENV_DIR, str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(manager.SandboxError, match=f"port {port}"):
            manager.up(manager.SandboxSettings(base_port=port))
    assert not (tmp_path / "state.json").exists()


def test_stale_state_file_is_replaced(tmp_path: Path) -> None:
    stale = manager.SandboxState(
        dir=str(tmp_path),
        redirector_url="http://127.0.0.1:1/",
        redirector=manager.ProcessRecord(name="redirector", pid=2**22 + 17),
        members=[],
        settings=manager.SandboxSettings(),
        federation_file=str(tmp_path / "federation.json"),
        repos_dir=str(tmp_path),
        started_at=0,
    )
    path = tmp_path / "state.json"
    path.write_text(stale.model_dump_json())
    said: list[str] = []
    manager._clear_stale_state(path, said.append)
    assert not path.exists()
    assert "stale" in said[0]
