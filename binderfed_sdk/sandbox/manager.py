"""`binderfed sandbox up|status|down`: a local federation on 127.0.0.1, started and stopped by PID.

Per member: a real JupyterHub (which runs configurable-http-proxy and the real
jupyterhub-idle-culler as a service) and our BinderHub-compatible build service; in front, a
redirector with mybinder.org's rules. Every process's PID (with its start time, so a reused PID
is never taken for ours), port and log is in one state file, in the sandbox's state folder.

Several sandboxes run side by side, each with its own folder: `--name NAME`
(`<cache>/binderfed/sandboxes/NAME`), `$BINDERFED_SANDBOX_DIR`, or `$BINDERFED_SANDBOX` (a
name); the default one lives in `<cache>/binderfed/sandbox`. The folder is private (0700),
every file in it that holds a token or secret is 0600, and the sandbox's processes run with
umask 077 so the files they make are private too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
from pydantic import BaseModel, ConfigDict

from binderfed_sdk._errors import SandboxError
from binderfed_sdk._files import write_private
from binderfed_sdk.sandbox._lock import file_lock
from binderfed_sdk.sandbox._proxy import cache_root, find_proxy
from binderfed_sdk.sandbox.builder import BuilderConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "SandboxError",
    "SandboxSettings",
    "SandboxState",
    "allow_repository",
    "down",
    "federation",
    "read_state",
    "running_state",
    "sandbox_dir",
    "state_path",
    "status",
    "up",
]

ENV_DIR = "BINDERFED_SANDBOX_DIR"
ENV_NAME = "BINDERFED_SANDBOX"
STATE_NAME = "state.json"
ALLOWED_NAME = "allowed.json"
#: the demo repository, shipped as package data
DEMO_REPO = Path(__file__).resolve().parent / "demo"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: the folders and files of a sandbox are the user's alone
_PRIVATE_DIR, _PRIVATE_FILE, _UMASK = 0o700, 0o600, 0o077
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
    #: what installs a repository's requirements: "uv" or "pip"
    installer: str = "uv"
    #: the overall deadline of each build step (s)
    step_timeout: float = 1800.0
    #: local repositories the user allowed (`sandbox up --repo`, `sandbox launch`)
    repos: list[str] = []
    #: each member builds into its own cache (as real members keep their own images) rather
    #: than one cache for all (the default: one build serves every member)
    member_caches: bool = False


class ProcessRecord(BaseModel):
    name: str
    pid: int
    port: int | None = None
    log: str | None = None
    #: the process's start time (psutil's create_time): a PID reused later is not ours
    started: float | None = None


class MemberRecord(BaseModel):
    name: str
    url: str
    hub_url: str
    weight: float
    prime: bool
    registry: str
    hub: ProcessRecord
    proxy_pid: int | None = None
    proxy_started: float | None = None
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
        return [pid for pid, _ in self.processes]

    @property
    def processes(self) -> list[tuple[int, float | None]]:
        """(PID, start time) of each process the sandbox started: hubs first (on SIGTERM each
        stops its servers, its proxy and its culler), then builders, proxies, the redirector."""
        found = [(m.hub.pid, m.hub.started) for m in self.members]
        found += [(m.builder.pid, m.builder.started) for m in self.members]
        found += [(m.proxy_pid, m.proxy_started) for m in self.members if m.proxy_pid]
        return [*found, (self.redirector.pid, self.redirector.started)]


def sandbox_dir(name: str | None = None) -> Path:
    """The state folder of the sandbox `name`; without one, `$BINDERFED_SANDBOX_DIR`, else the
    sandbox `$BINDERFED_SANDBOX` names, else the default sandbox's."""
    if name is None:
        if os.environ.get(ENV_DIR):
            return Path(os.environ[ENV_DIR]).expanduser().absolute()
        name = os.environ.get(ENV_NAME) or None
    if name is None:
        return cache_root() / "binderfed" / "sandbox"
    if not _NAME.fullmatch(name):
        msg = (
            f"sandbox name {name!r} is not allowed: letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit)"
        )
        raise SandboxError(msg)
    return cache_root() / "binderfed" / "sandboxes" / name


def state_path(folder: Path | None = None) -> Path:
    return (folder or sandbox_dir()) / STATE_NAME


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


def running_state(folder: Path | None = None) -> SandboxState | None:
    """The state of the sandbox in `folder` if its redirector runs, else None."""
    path = state_path(folder)
    if not path.is_file():
        return None
    try:
        state = read_state(path)
    except SandboxError:
        return None
    return state if _alive(state.redirector) else None


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


def _private_dir(folder: Path) -> None:
    """`folder`, made (or fixed to be) the user's alone, and the files directly in it (the
    hub's database and cookie secret an older version left readable, say)."""
    folder.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    folder.chmod(_PRIVATE_DIR)
    for path in folder.iterdir():
        with contextlib.suppress(OSError):
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) and mode & 0o077:
                path.chmod(_PRIVATE_FILE)


def _claim(folder: Path) -> None:
    """Make `folder` a sandbox's private state folder: a new or empty one, or one a sandbox
    used before; never a folder holding other things (`BINDERFED_SANDBOX_DIR=$HOME`, say),
    whose modes are not ours to change."""
    ours = {STATE_NAME, ALLOWED_NAME, "federation.json", "redirector.log", "repos", "cache"}
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if names and not names & (ours | set(MEMBER_NAMES)):
        msg = (
            f"{folder} holds other things than a sandbox: give the sandbox a folder of its own "
            "(--name NAME, or an empty or new BINDERFED_SANDBOX_DIR)"
        )
        raise SandboxError(msg)
    _private_dir(folder)


def allowed_repositories(folder: Path | None = None) -> list[str]:
    """The local repositories the sandbox in `folder` may build (besides its own folder)."""
    path = (folder or sandbox_dir()) / ALLOWED_NAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    found = data.get("repositories") if isinstance(data, dict) else None
    return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


def allow_repository(path: str | os.PathLike[str], *, folder: Path | None = None) -> bool:
    """Let the sandbox in `folder` build the repository at `path` (its real path goes into
    the allowed file, which the build service reads on every build); False if it already
    could."""
    folder = folder or sandbox_dir()
    _claim(folder)
    real = os.path.realpath(path)
    with file_lock(folder / (ALLOWED_NAME + ".lock"), timeout=30.0):
        repositories = allowed_repositories(folder)
        if real in repositories:
            return False
        text = json.dumps({"repositories": [*repositories, real]}, indent=2)
        write_private(folder / ALLOWED_NAME, text + "\n")
    return True


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
    proxy_command: str,
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
c.ConfigurableHTTPProxy.command = [{proxy_command!r}]
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
    write_private(path, config)  # it holds the build service's hub token
    return path


def _create_time(pid: int) -> float | None:
    with contextlib.suppress(psutil.Error):
        return float(psutil.Process(pid).create_time())
    return None


def _start(
    name: str, command: list[str], folder: Path, *, env: dict[str, str] | None = None
) -> ProcessRecord:
    log = folder / f"{name}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, _PRIVATE_FILE)
    os.fchmod(fd, _PRIVATE_FILE)  # a log an older version left readable
    with os.fdopen(fd, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it
            umask=_UMASK,  # what the hub, the proxy and the builder write is private too
        )
    return ProcessRecord(
        name=name, pid=process.pid, log=str(log), started=_create_time(process.pid)
    )


def ensure_demo_repository(repos_dir: Path) -> Path:
    """The demo repository (package data) as a git repository `binderfed/demo`
    (gh/binderfed/demo/HEAD)."""
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
    proxy_command: str,
) -> MemberRecord:
    """One member: its JupyterHub (with proxy and culler) and its build service."""
    name = MEMBER_NAMES[index]
    member_dir = folder / name
    _private_dir(member_dir)
    builder_port, proxy_port, proxy_api_port, hub_port = (next(ports) for _ in range(4))
    hub_token = secrets.token_hex(24)
    config = _hub_config(
        member_dir,
        proxy_port=proxy_port,
        proxy_api_port=proxy_api_port,
        hub_port=hub_port,
        hub_token=hub_token,
        settings=settings,
        proxy_command=proxy_command,
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
    builder_config = BuilderConfig.model_validate(
        {
            "member": name,
            "federation_file": str(folder / "federation.json"),
            "port": builder_port,
            "hub_api_url": f"http://127.0.0.1:{hub_port}/hub/api/",
            "hub_public_url": f"http://127.0.0.1:{proxy_port}/",
            "hub_token": hub_token,
            "launch_host": redirector_url,
            "repos_dir": str(repos),
            "cache_dir": str((member_dir if settings.member_caches else folder) / "cache"),
            "registry": registry,
            "secret": secrets.token_hex(32),
            "pod_quota": settings.pod_quota,
            "rate_limit": settings.rate_limit,
            "idle_timeout": settings.idle_timeout,
            "pip_args": settings.pip_args,
            "installer": settings.installer,
            "step_timeout": settings.step_timeout,
            # re-read on every build: `sandbox launch` adds to it while the sandbox runs
            "allowed_file": str(folder / ALLOWED_NAME),
        }
    )
    builder_file = member_dir / "builder.json"
    write_private(builder_file, builder_config.model_dump_json(indent=2))  # tokens, secret
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


def _own_alive(processes: Iterable[tuple[int, float | None]]) -> list[psutil.Process]:
    """The processes of a state file that still run: same PID and same start time."""
    alive = []
    for pid, started in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process = psutil.Process(pid)
            if started is not None and abs(process.create_time() - started) > 1.0:
                continue  # the PID was reused: not ours
            if _running(process):
                alive.append(process)
    return alive


def _alive(record: ProcessRecord) -> bool:
    return bool(_own_alive([(record.pid, record.started)]))


def _clear_stale_state(path: Path, say: Callable[[str], None]) -> None:
    """Refuse to start twice; remove a state file whose processes are all gone."""
    if not path.is_file():
        return
    try:
        old = read_state(path)
    except SandboxError:
        old = None
    alive = [p.pid for p in _own_alive(old.processes if old else [])]
    if alive:
        msg = (
            f"a sandbox is already running in {path.parent} (PIDs {alive}); stop it: "
            "binderfed sandbox down (with the same --name or BINDERFED_SANDBOX_DIR)"
        )
        raise SandboxError(msg)
    say(f"removing a stale state file ({path}): its processes are gone")
    path.unlink()


def up(
    settings: SandboxSettings | None = None,
    *,
    folder: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> SandboxState:
    """Start the sandbox whose state folder is `folder` (default: `sandbox_dir()`) and wait
    until every member is healthy behind the redirector."""
    settings = settings or SandboxSettings()
    if not 1 <= settings.members <= len(MEMBER_NAMES):
        msg = f"--members must be 1 to {len(MEMBER_NAMES)}"
        raise SandboxError(msg)
    folder = folder or sandbox_dir()
    path = folder / STATE_NAME
    _clear_stale_state(path, say)
    _claim(folder)
    proxy_command = find_proxy(say)
    for repository in settings.repos:
        allow_repository(repository, folder=folder)
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
                proxy_command=proxy_command,
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
        write_private(federation_file, json.dumps(federation, indent=2))
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
        write_private(path, state.model_dump_json(indent=2))
        _wait_healthy(state, started)
        state = _with_proxy_pids(state)
        write_private(path, state.model_dump_json(indent=2))
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
        started = _create_time(pid) if pid else None
        members.append(member.model_copy(update={"proxy_pid": pid, "proxy_started": started}))
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


def _family(processes: Iterable[tuple[int, float | None]]) -> list[psutil.Process]:
    """Each of `processes` (PID, start time) still running, and every process under it
    (servers the hub spawned, the proxy, the culler), each once, parents first."""
    family: dict[int, psutil.Process] = {}
    for process in _own_alive(processes):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
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


def _stop_pids(
    pids: list[int] | list[tuple[int, float | None]],
    say: Callable[[str], None],
    timeout: float = 15.0,
) -> list[int]:
    """SIGTERM each PID (or (PID, start time)) and everything under it, SIGKILL what is
    left; returns survivors."""
    family = _family(p if isinstance(p, tuple) else (p, None) for p in pids)
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    left = _wait_gone(family, timeout)
    for process in left:
        say(f"PID {process.pid} did not stop on SIGTERM; killing it")
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return [process.pid for process in _wait_gone(left, 5.0)]


def down(*, folder: Path | None = None, say: Callable[[str], None] = lambda _: None) -> list[int]:
    """Stop every process the sandbox in `folder` started, by the PIDs in its own state file;
    returns the PIDs that were stopped (none, saying so, when nothing runs)."""
    path = state_path(folder)
    if not path.is_file():
        return []
    state = read_state(path)
    order = state.processes
    family = [process.pid for process in _family(order)]
    survivors = _stop_pids(order, say)
    if survivors:
        msg = f"processes {survivors} survived SIGKILL"
        raise SandboxError(msg)
    if not family:
        say(f"its processes were gone already; removing the stale state file ({path})")
    path.unlink(missing_ok=True)
    return family


def status(folder: Path | None = None) -> dict[str, Any]:
    """The state, with each process's liveness and the redirector's view of its members
    (`running` False, and nothing else, when no state file is there)."""
    path = state_path(folder)
    if not path.is_file():
        return {"running": False, "state_file": str(path)}
    state = read_state(path)
    if not _own_alive(state.processes):  # a stale state file: nothing of it runs
        return {"running": False, "state_file": str(path)}
    processes = {
        "redirector": _alive(state.redirector),
        **{f"{m.name}/hub": _alive(m.hub) for m in state.members},
        **{f"{m.name}/builder": _alive(m.builder) for m in state.members},
    }
    active: dict[str, Any] = {}
    # the sandbox's own redirector, on loopback; an odd answer only means "not healthy"
    with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
        active = httpx.get(state.redirector_url + "active_hosts", timeout=3).json()["active_hosts"]
    return {
        "running": True,
        "redirector": state.redirector_url,
        "members": [
            {"name": m.name, "url": m.url, "hub": m.hub_url, "healthy": m.name in active}
            for m in state.members
        ],
        "processes": processes,
        "state_file": str(path),
        "repositories": allowed_repositories(Path(state.dir)),
    }
