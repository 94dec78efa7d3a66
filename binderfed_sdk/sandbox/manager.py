"""`binderfed sandbox up|status|down`: a local federation on 127.0.0.1, started and stopped by PID.

Per member: a real JupyterHub (which runs configurable-http-proxy and the real
jupyterhub-idle-culler as a service) and our BinderHub-compatible build service; in front, a
redirector with mybinder.org's rules. Every process's PID, port and log is in one state file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
from pydantic import BaseModel, ConfigDict

from binderfed_sdk._errors import SandboxError
from binderfed_sdk.sandbox.builder import BuilderConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "SandboxError",
    "SandboxSettings",
    "SandboxState",
    "down",
    "federation",
    "read_state",
    "state_path",
    "status",
    "up",
]

ENV_DIR = "BINDERFED_SANDBOX_DIR"
STATE_NAME = "state.json"
DEMO_REPO = Path(__file__).resolve().parents[2] / "examples" / "demo-repo"
MEMBER_NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


class SandboxSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    members: int = 2
    idle_timeout: float = 600.0
    max_age: float = 21_600.0
    cull_every: float = 60.0
    activity_interval: float = 30.0
    mem_limit: int = 2 * 1024**3
    mem_guarantee: int = 450 * 1024**2
    cpu_limit: float = 1.0
    pod_quota: int = 20
    rate_limit: int = 100
    weights: list[float] = []
    #: 0: any free port; else the redirector's port, members after it
    base_port: int = 0
    repos_dir: str | None = None
    pip_args: list[str] = []


class ProcessRecord(BaseModel):
    name: str
    pid: int
    port: int | None = None
    log: str | None = None


class MemberRecord(BaseModel):
    name: str
    url: str
    hub_url: str
    weight: float
    prime: bool
    registry: str
    hub: ProcessRecord
    proxy_pid: int | None = None
    builder: ProcessRecord


class SandboxState(BaseModel):
    version: int = 1
    dir: str
    redirector_url: str
    redirector: ProcessRecord
    members: list[MemberRecord]
    settings: SandboxSettings
    federation_file: str
    repos_dir: str
    started_at: float

    @property
    def pids(self) -> list[int]:
        pids = [self.redirector.pid]
        for member in self.members:
            pids += [member.builder.pid, member.hub.pid]
            if member.proxy_pid:
                pids.append(member.proxy_pid)
        return pids


def sandbox_dir() -> Path:
    default = Path.home() / ".cache" / "binderfed" / "sandbox"
    return Path(os.environ.get(ENV_DIR) or default)


def state_path() -> Path:
    return sandbox_dir() / STATE_NAME


def read_state(path: Path | None = None) -> SandboxState:
    path = path or state_path()
    if not path.is_file():
        msg = f"no sandbox is running (no state file at {path}); start one: binderfed sandbox up"
        raise SandboxError(msg)
    try:
        return SandboxState.model_validate_json(path.read_text())
    except ValueError as error:
        msg = f"the sandbox state file {path} is unreadable ({error}); remove it"
        raise SandboxError(msg) from None


def federation() -> dict[str, Any]:
    """The running sandbox's member list: its entry of the `binderfed.federations` group, so
    `Federation("sandbox")` works without the federation code knowing about the sandbox."""
    state = read_state()
    try:
        data = json.loads(Path(state.federation_file).read_text())
    except (OSError, ValueError) as error:
        msg = f"the sandbox's member list {state.federation_file} is unreadable ({error})"
        raise SandboxError(msg) from None
    if not isinstance(data, dict):
        msg = f"the sandbox's member list {state.federation_file} is not a JSON object"
        raise SandboxError(msg)
    return data


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        return _running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _running(process: psutil.Process) -> bool:
    # is_running() also tells a reused PID from the process we looked at first
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _port_free(port: int) -> bool:
    """Whether a server could listen on `port` now (as servers bind: with SO_REUSEADDR, so
    connections of a stopped server still in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ports(settings: SandboxSettings) -> Iterable[int]:
    """Ports in order: redirector, then per member builder, proxy, proxy API, hub."""
    if settings.base_port:
        port = settings.base_port
        for _ in range(1 + 4 * settings.members):
            if not _port_free(port):
                msg = f"port {port} on 127.0.0.1 is already taken; choose another --port"
                raise SandboxError(msg)
            yield port
            port += 1
    else:
        for _ in range(1 + 4 * settings.members):
            yield _free_port()


def _hub_config(
    folder: Path,
    *,
    proxy_port: int,
    proxy_api_port: int,
    hub_port: int,
    hub_token: str,
    settings: SandboxSettings,
) -> Path:
    culler = [
        sys.executable, "-m", "jupyterhub_idle_culler",
        f"--timeout={int(settings.idle_timeout)}",
        f"--max-age={int(settings.max_age)}",
        f"--cull-every={max(1, int(settings.cull_every))}",
        "--remove-named-servers=False",
    ]  # fmt: skip
    config = f"""# written by binderfed sandbox up
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = {str(folder / "proxy.pid")!r}
c.ConfigurableHTTPProxy.debug = False
c.JupyterHub.pid_file = {str(folder / "jupyterhub.pid")!r}
c.JupyterHub.db_url = "sqlite:///{folder / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(folder / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "null"
c.JupyterHub.spawner_class = "binderfed_sdk.sandbox.spawner.SandboxSpawner"
c.JupyterHub.last_activity_interval = {max(1, int(settings.activity_interval))}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_proxy = True
c.Spawner.mem_limit = {settings.mem_limit}
c.Spawner.mem_guarantee = {settings.mem_guarantee}
c.Spawner.cpu_limit = {settings.cpu_limit}
c.Spawner.poll_interval = 5
c.Spawner.start_timeout = 90
c.Spawner.http_timeout = 90
c.JupyterHub.services = [
    {{"name": "binder", "api_token": {hub_token!r}}},
    {{"name": "idle-culler", "command": {culler!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "binder", "services": ["binder"],
      "scopes": ["admin:users", "admin:servers", "list:users", "read:users"]}},
    {{"name": "idle-culler", "services": ["idle-culler"],
      "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}},
]
"""
    path = folder / "jupyterhub_config.py"
    path.write_text(config)
    return path


def _start(
    name: str, command: list[str], folder: Path, *, env: dict[str, str] | None = None
) -> ProcessRecord:
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it
        )
    return ProcessRecord(name=name, pid=process.pid, log=str(log))


def ensure_demo_repository(repos_dir: Path) -> Path:
    """`examples/demo-repo` as a git repository `binderfed/demo` (gh/binderfed/demo/HEAD)."""
    target = repos_dir / "binderfed" / "demo"
    if (target / ".git").exists() or not DEMO_REPO.is_dir():
        return target
    make_repository(target, DEMO_REPO)
    return target


def make_repository(
    target: Path, source: Path | None = None, files: dict[str, str] | None = None
) -> str:
    """A local git repository with the given content, committed; returns the commit."""
    target.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copytree(source, target, dirs_exist_ok=True)
    for name, text in (files or {}).items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    git = [
        "git",
        "-C",
        str(target),
        "-c",
        "user.name=binderfed",
        "-c",
        "user.email=sandbox@localhost",
    ]
    if not (target / ".git").exists():
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "sandbox content"], check=True)
    out = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _start_member(
    index: int,
    *,
    folder: Path,
    ports: Iterator[int],
    settings: SandboxSettings,
    repos: Path,
    redirector_url: str,
    weight: float,
    started: list[ProcessRecord],
) -> MemberRecord:
    """One member: its JupyterHub (with proxy and culler) and its build service."""
    name = MEMBER_NAMES[index]
    member_dir = folder / name
    member_dir.mkdir(exist_ok=True)
    builder_port, proxy_port, proxy_api_port, hub_port = (next(ports) for _ in range(4))
    hub_token = secrets.token_hex(24)
    config = _hub_config(
        member_dir,
        proxy_port=proxy_port,
        proxy_api_port=proxy_api_port,
        hub_port=hub_port,
        hub_token=hub_token,
        settings=settings,
    )
    hub = _start(
        "jupyterhub",
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        member_dir,
        env={"CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(24)},
    )
    started.append(hub)
    hub.port = proxy_port
    registry = f"registry.{name}.sandbox.binderfed:5000"
    builder_config = BuilderConfig(
        member=name,
        federation_file=str(folder / "federation.json"),
        port=builder_port,
        hub_api_url=f"http://127.0.0.1:{hub_port}/hub/api/",
        hub_public_url=f"http://127.0.0.1:{proxy_port}/",
        hub_token=hub_token,
        launch_host=redirector_url,
        repos_dir=str(repos),
        cache_dir=str(folder / "cache"),
        registry=registry,
        secret=secrets.token_hex(32),
        pod_quota=settings.pod_quota,
        rate_limit=settings.rate_limit,
        idle_timeout=settings.idle_timeout,
        pip_args=settings.pip_args,
    )
    builder_file = member_dir / "builder.json"
    builder_file.write_text(builder_config.model_dump_json(indent=2))
    command = [sys.executable, "-m", "binderfed_sdk.sandbox.builder", "--config", str(builder_file)]
    builder = _start("builder", command, member_dir)
    builder.port = builder_port
    started.append(builder)
    return MemberRecord(
        name=name,
        url=f"http://127.0.0.1:{builder_port}/",
        hub_url=f"http://127.0.0.1:{proxy_port}/",
        weight=weight,
        prime=index == 0,
        registry=registry,
        hub=hub,
        builder=builder,
    )


def _clear_stale_state(path: Path, say: Callable[[str], None]) -> None:
    """Refuse to start twice; remove a state file whose processes are all gone."""
    if not path.is_file():
        return
    try:
        old = read_state(path)
    except SandboxError:
        old = None
    alive = [pid for pid in (old.pids if old else []) if pid_alive(pid)]
    if alive:
        msg = f"a sandbox is already running (PIDs {alive}); stop it: binderfed sandbox down"
        raise SandboxError(msg)
    say(f"removing a stale state file ({path}): its processes are gone")
    path.unlink()


def up(
    settings: SandboxSettings | None = None, *, say: Callable[[str], None] = lambda _: None
) -> SandboxState:
    """Start the sandbox and wait until every member is healthy behind the redirector."""
    settings = settings or SandboxSettings()
    if not 1 <= settings.members <= len(MEMBER_NAMES):
        msg = f"--members must be 1 to {len(MEMBER_NAMES)}"
        raise SandboxError(msg)
    proxy = shutil.which("configurable-http-proxy")
    if proxy is None:
        msg = (
            "configurable-http-proxy is not installed (JupyterHub needs it): "
            "npm install -g configurable-http-proxy"
        )
        raise SandboxError(msg)
    folder = sandbox_dir()
    path = folder / STATE_NAME
    _clear_stale_state(path, say)
    folder.mkdir(parents=True, exist_ok=True)
    repos = Path(settings.repos_dir) if settings.repos_dir else folder / "repos"
    ensure_demo_repository(repos)
    ports = iter(_ports(settings))
    redirector_port = next(ports)
    redirector_url = f"http://127.0.0.1:{redirector_port}/"
    weights = settings.weights or [50.0] * settings.members
    started: list[ProcessRecord] = []
    members: list[MemberRecord] = []
    try:
        hosts: dict[str, Any] = {}
        for index in range(settings.members):
            member = _start_member(
                index,
                folder=folder,
                ports=ports,
                settings=settings,
                repos=repos,
                redirector_url=redirector_url,
                weight=weights[index],
                started=started,
            )
            members.append(member)
            hosts[member.name] = {
                "url": member.url,
                "weight": member.weight,
                "prime": member.prime,
                "hub": member.hub_url.removeprefix("http://").rstrip("/"),
                "registry": member.registry,
            }
        federation = {
            "name": "sandbox",
            "redirector": redirector_url,
            "check": {"period": 5, "jitter": 0.05, "retries": 1, "timeout": 3, "failed_period": 10},
            "pod_headroom": 1,
            "limits": {
                "idle_timeout": settings.idle_timeout,
                "max_age": settings.max_age,
                "cull_every": settings.cull_every,
                "activity_interval": settings.activity_interval,
                "cpu_seconds": None,
                "mem_limit": settings.mem_limit,
                "mem_guarantee": settings.mem_guarantee,
                "cpu_limit": settings.cpu_limit,
            },
            "hosts": hosts,
        }
        federation_file = folder / "federation.json"
        federation_file.write_text(json.dumps(federation, indent=2))
        redirector = _start(
            "redirector",
            [sys.executable, "-m", "binderfed_sdk.sandbox.redirector",
             "--federation", str(federation_file), "--port", str(redirector_port)],
            folder,
        )  # fmt: skip
        redirector.port = redirector_port
        started.append(redirector)
        state = SandboxState(
            dir=str(folder),
            redirector_url=redirector_url,
            redirector=redirector,
            members=members,
            settings=settings,
            federation_file=str(federation_file),
            repos_dir=str(repos),
            started_at=time.time(),
        )
        path.write_text(state.model_dump_json(indent=2))
        _wait_healthy(state, started)
        state = _with_proxy_pids(state)
        path.write_text(state.model_dump_json(indent=2))
    except BaseException:
        _stop_pids([p.pid for p in started], say)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return state


def _with_proxy_pids(state: SandboxState) -> SandboxState:
    members = []
    for member in state.members:
        pid_file = Path(state.dir) / member.name / "proxy.pid"
        pid = None
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
        members.append(member.model_copy(update={"proxy_pid": pid}))
    return state.model_copy(update={"members": members})


def _wait_healthy(state: SandboxState, started: list[ProcessRecord]) -> None:
    deadline = time.monotonic() + 90
    names = {m.name for m in state.members}
    with httpx.Client(timeout=3) as client:
        while time.monotonic() < deadline:
            dead = [p for p in started if not pid_alive(p.pid)]
            if dead:
                log = Path(dead[0].log or "")
                tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
                msg = f"{dead[0].name} (PID {dead[0].pid}) exited while starting:\n{tail}"
                raise SandboxError(msg)
            with contextlib.suppress(httpx.HTTPError, ValueError):
                active = client.get(state.redirector_url + "active_hosts").json()
                if set(active.get("active_hosts", {})) == names:
                    return
            time.sleep(0.25)
    msg = "the sandbox did not become healthy within 90 s (see the logs in " + state.dir + ")"
    raise SandboxError(msg)


def _family(pids: Iterable[int]) -> list[psutil.Process]:
    """Each running PID and every process under it (servers the hub spawned, the proxy, the
    culler), each once, parents first."""
    family: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process = psutil.Process(pid)
            if _running(process):
                for member in (process, *process.children(recursive=True)):
                    family.setdefault(member.pid, member)
    return list(family.values())


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` s for `processes` to end (reaping our own children); the ones left."""
    deadline = time.monotonic() + timeout
    alive = processes
    while alive:
        # short rounds: a zombie that is not our child never "ends" for wait_procs
        _, alive = psutil.wait_procs(alive, timeout=max(0.0, min(0.2, deadline - time.monotonic())))
        alive = [process for process in alive if _running(process)]
        if time.monotonic() >= deadline:
            break
    return alive


def _stop_pids(pids: list[int], say: Callable[[str], None], timeout: float = 15.0) -> list[int]:
    """SIGTERM each PID and everything under it, SIGKILL what is left; returns survivors."""
    family = _family(pids)
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    left = _wait_gone(family, timeout)
    for process in left:
        say(f"PID {process.pid} did not stop on SIGTERM; killing it")
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return [process.pid for process in _wait_gone(left, 5.0)]


def down(*, say: Callable[[str], None] = lambda _: None) -> list[int]:
    """Stop every process the sandbox started, by PID; returns the PIDs that were stopped."""
    state = read_state()
    # the hubs first: on SIGTERM each stops its servers, its proxy and its culler
    order = [m.hub.pid for m in state.members] + [m.builder.pid for m in state.members]
    order += [m.proxy_pid for m in state.members if m.proxy_pid] + [state.redirector.pid]
    family = [process.pid for process in _family(order)]
    survivors = _stop_pids(order, say)
    if survivors:
        msg = f"processes {survivors} survived SIGKILL"
        raise SandboxError(msg)
    state_path().unlink(missing_ok=True)
    return family


def status() -> dict[str, Any]:
    """The state, with each process's liveness and the redirector's view of its members."""
    state = read_state()
    processes = {
        "redirector": pid_alive(state.redirector.pid),
        **{f"{m.name}/hub": pid_alive(m.hub.pid) for m in state.members},
        **{f"{m.name}/builder": pid_alive(m.builder.pid) for m in state.members},
    }
    active: dict[str, Any] = {}
    # the sandbox's own redirector, on loopback; an odd answer only means "not healthy"
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
        active = httpx.get(state.redirector_url + "active_hosts", timeout=3).json()["active_hosts"]
    return {
        "redirector": state.redirector_url,
        "members": [
            {"name": m.name, "url": m.url, "hub": m.hub_url, "healthy": m.name in active}
            for m in state.members
        ],
        "processes": processes,
        "state_file": str(state_path()),
    }
