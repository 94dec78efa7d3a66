"""Inside a running Binder session: which member it runs on, how long before it is stopped,
and memory used against its limit.

Usable from any script or kernel in the session, and by the `binderfed_jupyter` server
extension (`GET <base_url>binderfed/session` serves `SessionInfo` as JSON).

The rules are pure functions (`time_left`, `identify_member`, `choose_memory_limit`,
`memory_level`, `time_level`, the cgroup file parsers); the I/O sits in small readers that take
their inputs as parameters: the environment (a mapping), the cgroup root (a path), the Jupyter
server's `api/status` (a dict or a callable), the process whose tree psutil measures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ._redact import redact
from .federation import DEFAULT_FEDERATION, ENV_FEDERATION, FederationConfig, load_federation
from .limits import SessionLimits

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    #: an `api/status` answer, or something that fetches one (None: unknown)
    StatusSource: TypeAlias = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None

__all__ = [
    "BINDER_VARIABLES",
    "CgroupLayout",
    "CgroupReading",
    "JupyterServerStatus",
    "SessionInfo",
    "SessionInfoReader",
    "TimeLeft",
    "choose_memory_limit",
    "fetch_session_info",
    "find_cgroup",
    "find_parent_server",
    "format_bytes",
    "format_duration",
    "identify_member",
    "memory_level",
    "process_tree_rss",
    "read_cgroup",
    "read_session_info",
    "resolve_limits",
    "rule_budget",
    "time_left",
    "time_level",
]

MemberSource = Literal["sandbox", "image-registry", "hub-host", "launch-host"]
MemorySource = Literal["cgroup-v2", "cgroup-v1", "psutil"]
CullReason = Literal["idle", "max-age", "cpu"]
Level = Literal["ok", "warning", "danger"]

#: BinderHub sets these in every session it launches; any one of them means "in Binder"
BINDER_VARIABLES = (
    "BINDER_REPO_URL",
    "BINDER_LAUNCH_HOST",
    "BINDER_REQUEST",
    "BINDER_PERSISTENT_REQUEST",
    "BINDER_REF_URL",
)
NOT_IN_BINDER = (
    "no BINDER_* environment variables (BINDER_REPO_URL, BINDER_LAUNCH_HOST, BINDER_REQUEST)"
)
#: the sandbox federation says outright which member launched the session
ENV_MEMBER = "BINDERFED_MEMBER"
#: where a session can learn its JupyterHub's host (public URLs first; the API URL is often
#: an in-cluster name such as `http://hub:8081/hub/api`, which matches no member)
HUB_URL_VARIABLES = (
    "JUPYTERHUB_PUBLIC_HUB_URL",
    "JUPYTERHUB_PUBLIC_URL",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_BASE_URL",
)
DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
#: cgroup v1 writes "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on 4 KiB pages)
_V1_UNLIMITED = 1 << 62
#: memory at or above this fraction of the limit is "danger" (the kernel kills at the limit)
DANGER_MEMORY_FRACTION = 0.95
_EPOCH = datetime.fromtimestamp(0, UTC)


# --- the answer ------------------------------------------------------------------------------


class SessionInfo(BaseModel):
    """One reading of a session's standing. `model_dump(mode="json")` is the server
    extension's wire format (`GET <base_url>binderfed/session`)."""

    model_config = ConfigDict(frozen=True)

    in_binder: bool
    #: why this is not a Binder session (None inside one)
    reason: str | None = None
    #: the federation member running the session (None when nothing says which: no guess)
    member: str | None = None
    member_source: MemberSource | None = None
    federation: str | None = None
    repo_url: str | None = None
    ref_url: str | None = None
    #: the resolved commit or ref, last part of BINDER_PERSISTENT_REQUEST or BINDER_REF_URL
    ref: str | None = None
    #: relaunches this exact commit: launch host + BINDER_PERSISTENT_REQUEST
    persistent_link: str | None = None
    launch_host: str | None = None
    #: from the session's own Jupyter server (its `api/status`), not from the hub
    started: datetime | None = None
    last_activity: datetime | None = None
    now: datetime
    idle_seconds_left: float | None = None
    max_age_seconds_left: float | None = None
    cpu_seconds_left: float | None = None
    #: the least of the three that are known; `cull_reason` says which
    seconds_left: float | None = None
    cull_reason: CullReason | None = None
    #: the culler's check interval: the real stop may come up to this much after `seconds_left`
    cull_window: float
    #: bytes in use: the cgroup's working set (usage minus inactive page cache), else the RSS
    #: of the Jupyter server's process tree
    memory_used: int | None = None
    memory_source: MemorySource | None = None
    memory_limit: int | None = None
    memory_guarantee: int | None = None
    cpu_limit: float | None = None
    limits: SessionLimits
    warn_memory_fraction: float = 0.8
    warn_minutes: list[int] = Field(default_factory=lambda: [10, 2])

    @property
    def memory_fraction(self) -> float | None:
        if self.memory_used is None or not self.memory_limit:
            return None
        return self.memory_used / self.memory_limit

    @property
    def memory_level(self) -> Level:
        return memory_level(self.memory_used, self.memory_limit, self.warn_memory_fraction)

    @property
    def time_level(self) -> Level:
        budget = rule_budget(self.limits, self.cull_reason)
        return time_level(self.seconds_left, self.warn_minutes, budget)


# --- pure rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeLeft:
    """Seconds before each of the culler's rules stops the session (None: unknown)."""

    idle: float | None
    max_age: float | None
    cpu: float | None
    seconds: float | None
    reason: CullReason | None


def time_left(
    limits: SessionLimits,
    *,
    now: datetime,
    started: datetime | None,
    last_activity: datetime | None,
    cpu_used: float | None = None,
) -> TimeLeft:
    """The idle culler's rule, turned into time left: `inactive = now - (last_activity or
    started)`, `age = now - started`; left = `min(timeout - inactive, max_age - age)`, each
    clamped at 0; plus the CPU budget minus the CPU time used. Ties go to idle, then max age."""
    idle: float | None = None
    reference = last_activity or started
    if reference is not None:
        idle = max(0.0, limits.idle_timeout - (now - reference).total_seconds())
    max_age: float | None = None
    if limits.max_age is not None and started is not None:
        max_age = max(0.0, limits.max_age - (now - started).total_seconds())
    cpu: float | None = None
    if limits.cpu_seconds is not None and cpu_used is not None:
        cpu = max(0.0, limits.cpu_seconds - cpu_used)
    candidates: list[tuple[float | None, CullReason]] = [
        (idle, "idle"),
        (max_age, "max-age"),
        (cpu, "cpu"),
    ]
    seconds: float | None = None
    reason: CullReason | None = None
    for value, why in candidates:
        if value is not None and (seconds is None or value < seconds):
            seconds, reason = value, why
    return TimeLeft(idle=idle, max_age=max_age, cpu=cpu, seconds=seconds, reason=reason)


def choose_memory_limit(
    env_limit: int | None,
    cgroup_limit: int | None,
    policy_limit: int | None,
    *,
    in_binder: bool,
) -> int | None:
    """What the session may use: the lower of MEM_LIMIT and the cgroup's own limit; when
    neither is known, the federation's policy, but only inside Binder."""
    observed = [value for value in (env_limit, cgroup_limit) if value is not None]
    if observed:
        return min(observed)
    return policy_limit if in_binder else None


def memory_level(used: int | None, limit: int | None, warn_fraction: float = 0.8) -> Level:
    """ "warning" from `warn_fraction` of the limit, "danger" from 95 % (the kernel is killed
    at the limit); "ok" below, or when either figure is unknown."""
    if used is None or not limit:
        return "ok"
    fraction = used / limit
    if fraction >= max(DANGER_MEMORY_FRACTION, warn_fraction):
        return "danger"
    if fraction >= warn_fraction:
        return "warning"
    return "ok"


def time_level(
    seconds_left: float | None,
    warn_minutes: Sequence[int] = (10, 2),
    budget: float | None = None,
) -> Level:
    """ "warning" under the largest of `warn_minutes`, "danger" under the smallest (when there
    are two or more). A threshold at or above `budget` (the full length of the rule that
    ends the session first) is left out: it would always be on. On mybinder.org the idle
    timeout is 600 s, so idle time left is always under 10 minutes; only the 2-minute
    threshold applies to it, and it is "danger"."""
    thresholds = sorted({m for m in warn_minutes if m > 0}, reverse=True)  # [warning, ..., danger]
    if seconds_left is None or not thresholds:
        return "ok"
    levels: list[Level] = ["warning" for _ in thresholds]
    if len(levels) > 1:
        levels[-1] = "danger"
    level: Level = "ok"
    for minutes, candidate in zip(thresholds, levels, strict=True):
        if budget is not None and minutes * 60 >= budget:
            continue
        if seconds_left < minutes * 60:
            level = candidate
    return level


def rule_budget(limits: SessionLimits, reason: CullReason | None) -> float | None:
    """The full length of a culling rule: the idle timeout, the max age, the CPU budget."""
    return {
        "idle": limits.idle_timeout,
        "max-age": limits.max_age,
        "cpu": limits.cpu_seconds,
    }.get(reason or "")


def image_registry_host(image_spec: str | None) -> str | None:
    """The registry host of an image reference: the part before the first "/" when it looks
    like a host (has a "." or ":", or is "localhost"), as Docker decides."""
    if not image_spec or "/" not in image_spec:
        return None
    first = image_spec.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return first.lower()
    return None


def _host_forms(value: str) -> list[str]:
    """`host:port` and `host` of a host or URL, lower-case, most specific first."""
    text = value.strip().lower()
    parts = urlsplit(text if "://" in text else "//" + text)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not netloc:
        return []
    host = parts.hostname or netloc
    return [netloc] if host == netloc else [netloc, host]


def _match_host(
    value: str,
    member_map: Mapping[str, str],
    members: Iterable[tuple[str, str | None]],
) -> str | None:
    """The member for a host: the extra map first, then the members' own host names."""
    forms = _host_forms(value)
    for form in forms:
        if form in member_map:
            return member_map[form]
    for name, host in members:
        if host and any(form in _host_forms(host) for form in forms):
            return name
    return None


def identify_member(
    environ: Mapping[str, str],
    federation: FederationConfig,
    member_map: Mapping[str, str] | None = None,
) -> tuple[str | None, MemberSource | None]:
    """Which member runs this session, and what said so. In order: the sandbox's
    `BINDERFED_MEMBER`; the registry host of `JUPYTER_IMAGE_SPEC`; the JupyterHub host;
    `BINDER_LAUNCH_HOST` unless it is the federation's front door (on mybinder.org it always
    is, and says nothing). `member_map` (host -> member) is consulted first for the host
    matches. Nothing matching: `(None, None)`, never a guess."""
    extra = {key.strip().lower(): name for key, name in (member_map or {}).items()}
    hosts = federation.hosts.values()

    if named := environ.get(ENV_MEMBER, "").strip():
        return named, "sandbox"

    registry = image_registry_host(environ.get("JUPYTER_IMAGE_SPEC"))
    if registry is not None:
        found = _match_host(registry, extra, ((m.name, m.registry) for m in hosts))
        if found is not None:
            return found, "image-registry"

    for variable in HUB_URL_VARIABLES:
        url = environ.get(variable, "").strip()
        if "://" not in url:  # JUPYTERHUB_BASE_URL is often just a path
            continue
        found = _match_host(url, extra, ((m.name, m.hub) for m in hosts))
        if found is not None:
            return found, "hub-host"

    launch_host = environ.get("BINDER_LAUNCH_HOST", "").strip()
    if launch_host and not _is_front_door(launch_host, federation):
        found = _match_host(launch_host, extra, ())
        if found is None and launch_host.startswith(("http://", "https://")):
            member = federation.member_for_url(launch_host)
            found = member.name if member is not None else None
        if found is not None:
            return found, "launch-host"
    return None, None


def _is_front_door(url: str, federation: FederationConfig) -> bool:
    redirector = federation.redirector
    if not redirector:
        return False
    return _url_key(url) == _url_key(redirector)


def _url_key(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/")


def ref_of(persistent_request: str | None, ref_url: str | None) -> str | None:
    """The resolved ref: last path part of BINDER_PERSISTENT_REQUEST (`v2/gh/org/repo/<sha>`),
    else of BINDER_REF_URL (`https://github.com/org/repo/tree/<sha>`)."""
    for value in (persistent_request, ref_url):
        if value:
            path = urlsplit(value).path if "://" in value else value.split("?", 1)[0]
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last:
                return unquote(last)
    return None


def persistent_link(launch_host: str | None, persistent_request: str | None) -> str | None:
    if not launch_host or not persistent_request:
        return None
    return launch_host.rstrip("/") + "/" + persistent_request.lstrip("/")


def public_url(value: str | None) -> str | None:
    """A URL safe to show: no `user:password@`, no `token=` value."""
    if not value:
        return None
    if "@" in value and "://" in value:
        scheme, rest = value.split("://", 1)
        netloc, slash, path = rest.partition("/")
        value = f"{scheme}://{netloc.rsplit('@', 1)[-1]}{slash}{path}"
    return redact(value) if "token=" in value else value


def parse_bytes(value: str | None) -> int | None:
    """MEM_LIMIT / MEM_GUARANTEE: bytes as a number ("2147483648", "2.147483648e9")."""
    number = _parse_number(value)
    return int(number) if number is not None and number > 0 else None


def _parse_number(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_status_time(value: Any) -> datetime | None:
    """A time from `api/status` (ISO 8601 with "Z") or a datetime; the epoch means unknown
    (`api/status` answers it when the server never recorded its start)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return None if moment == _EPOCH else moment


def resolve_limits(
    base: SessionLimits, overrides: SessionLimits | Mapping[str, Any] | None
) -> SessionLimits:
    """`base` with `overrides` applied (a full SessionLimits replaces it; a mapping changes
    the fields it names and is validated: unknown names are refused)."""
    if overrides is None:
        return base
    if isinstance(overrides, SessionLimits):
        return overrides
    return SessionLimits.model_validate({**base.model_dump(), **dict(overrides)})


def format_bytes(value: float | None) -> str:
    if value is None:
        return "?"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(value) >= size:
            amount = value / size
            return f"{amount:.1f} {unit}" if amount < 10 else f"{amount:.0f} {unit}"
    return f"{value:.0f} B"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    if whole >= 3600:
        hours, rest = divmod(whole, 3600)
        return f"{hours} h {rest // 60:02d} min"
    if whole >= 600:
        return f"{round(whole / 60)} min"
    if whole >= 60:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest:02d} s"
    return f"{whole} s"


# --- cgroup files --------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLayout:
    """Where this process's cgroup files are (found once; membership does not change)."""

    version: Literal[1, 2]
    memory_dir: Path | None
    cpu_dir: Path | None


@dataclass(frozen=True)
class CgroupReading:
    version: Literal[1, 2]
    #: working set: usage minus inactive file cache (what kubelet and the OOM killer weigh)
    memory_used: int | None
    memory_limit: int | None
    cpu_seconds: float | None


def _own_paths(proc_cgroup: str) -> tuple[str | None, dict[str, str]]:
    """From /proc/self/cgroup: the v2 path (`0::/path`) and the v1 path of each controller."""
    v2: str | None = None
    v1: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            v2 = path
        else:
            for controller in controllers.split(","):
                v1[controller] = path
    return v2, v1


def _first_dir(candidates: Iterable[Path], marker: str) -> Path | None:
    for candidate in candidates:
        if (candidate / marker).is_file():
            return candidate
    return None


def find_cgroup(
    root: str | Path = DEFAULT_CGROUP_ROOT, proc_cgroup: str | None = None
) -> CgroupLayout | None:
    """The cgroup folders holding this process's memory and CPU figures, under `root`.

    `proc_cgroup` is the text of /proc/self/cgroup (read when None). In a container the
    cgroup is usually mounted at the root itself; otherwise the process's own path under the
    root is tried first. v2 (`memory.current`) wins over v1 (`memory/memory.usage_in_bytes`).
    """
    root = Path(root)
    if proc_cgroup is None:
        try:
            proc_cgroup = PROC_SELF_CGROUP.read_text()
        except OSError:
            proc_cgroup = ""
    v2_path, v1_paths = _own_paths(proc_cgroup)

    def under(base: Path, path: str | None) -> list[Path]:
        relative = (path or "/").strip("/")
        return [base / relative, base] if relative else [base]

    v2_dir = _first_dir(under(root, v2_path), "memory.current")
    if v2_dir is not None:
        cpu = v2_dir if (v2_dir / "cpu.stat").is_file() else None
        return CgroupLayout(version=2, memory_dir=v2_dir, cpu_dir=cpu)

    memory_dir = _first_dir(under(root / "memory", v1_paths.get("memory")), "memory.usage_in_bytes")
    cpu_dir: Path | None = None
    for name in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
        cpu_dir = _first_dir(under(root / name, v1_paths.get("cpuacct")), "cpuacct.usage")
        if cpu_dir is not None:
            break
    if memory_dir is None and cpu_dir is None:
        return None
    return CgroupLayout(version=1, memory_dir=memory_dir, cpu_dir=cpu_dir)


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


def _int(data: bytes | None) -> int | None:
    if data is None:
        return None
    try:
        return int(data)
    except ValueError:
        return None


def stat_value(data: bytes | None, key: str) -> int | None:
    """The number after `key` in a flat-keyed cgroup file (memory.stat, cpu.stat)."""
    if data is None:
        return None
    needle = key.encode() + b" "
    if data.startswith(needle):
        at = len(needle)
    else:
        found = data.find(b"\n" + needle)
        if found < 0:
            return None
        at = found + 1 + len(needle)
    end = data.find(b"\n", at)
    return _int(data[at : end if end >= 0 else None])


def v2_memory_max(data: bytes | None) -> int | None:
    """memory.max: bytes, or "max" (no limit)."""
    if data is None or data.strip() == b"max":
        return None
    return _int(data)


def v1_memory_limit(data: bytes | None) -> int | None:
    """memory.limit_in_bytes: bytes; a huge value (PAGE_COUNTER_MAX) means no limit."""
    value = _int(data)
    return None if value is None or value >= _V1_UNLIMITED else value


def _working_set(usage: int | None, stat: bytes | None, key: str) -> int | None:
    if usage is None:
        return None
    inactive = stat_value(stat, key) or 0
    return usage - inactive if inactive <= usage else usage


def read_cgroup(layout: CgroupLayout) -> CgroupReading:
    """One reading of the small cgroup files: a handful of `read()`s, no subprocess."""
    memory, cpu = layout.memory_dir, layout.cpu_dir
    used: int | None = None
    limit: int | None = None
    cpu_seconds: float | None = None
    if layout.version == 2:
        if memory is not None:
            usage = _int(_read(f"{memory}/memory.current"))
            used = _working_set(usage, _read(f"{memory}/memory.stat"), "inactive_file")
            limit = v2_memory_max(_read(f"{memory}/memory.max"))
        if cpu is not None:
            usec = stat_value(_read(f"{cpu}/cpu.stat"), "usage_usec")
            cpu_seconds = usec / 1e6 if usec is not None else None
    else:
        if memory is not None:
            usage = _int(_read(f"{memory}/memory.usage_in_bytes"))
            stat = _read(f"{memory}/memory.stat")
            used = _working_set(usage, stat, "total_inactive_file")
            limit = v1_memory_limit(_read(f"{memory}/memory.limit_in_bytes"))
        if cpu is not None:
            nsec = _int(_read(f"{cpu}/cpuacct.usage"))
            cpu_seconds = nsec / 1e9 if nsec is not None else None
    return CgroupReading(
        version=layout.version, memory_used=used, memory_limit=limit, cpu_seconds=cpu_seconds
    )


# --- psutil fallback ---------------------------------------------------------------------------


def default_process_root(environ: Mapping[str, str] | None = None) -> int:
    """The Jupyter server's PID when this process is one of its kernels (JPY_PARENT_PID is
    our parent), else this process."""
    environ = os.environ if environ is None else environ
    parent = environ.get("JPY_PARENT_PID", "")
    if parent.isdigit() and int(parent) == os.getppid():
        return int(parent)
    return os.getpid()


def process_tree_rss(pid: int | None = None) -> int | None:
    """Resident memory of a process and all its descendants (kernels included), via psutil.
    Slower than the cgroup files: used only where those are missing."""
    try:
        import psutil  # noqa: PLC0415 - optional dependency, needed only without cgroups
    except ImportError:
        return None
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # gone or not ours: skip it
            continue
    return total


# --- the Jupyter server's own record ---------------------------------------------------------


class JupyterServerStatus:
    """Fetches `api/status` of the Jupyter server at `url`, or of the one this process runs
    under (see `find_parent_server`). Calling it returns the status dict, or None when there
    is no server to ask or it does not answer."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        runtime_dir: str | Path | None = None,
        timeout: float = 2.0,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._runtime_dir = runtime_dir
        self.url = url
        self.token = token
        self.timeout = timeout
        self._found = url is not None

    def _discover(self) -> None:
        self._found = True
        info = find_parent_server(self._environ, self._runtime_dir)
        if info is None:
            return
        url = info.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            self.url = url if url.endswith("/") else url + "/"
            if self.token is None:
                token = info.get("token")
                self.token = token if isinstance(token, str) and token else None
        if self.token is None:
            self.token = self._environ.get("JUPYTERHUB_API_TOKEN") or None

    def get(self, path: str) -> Any:
        """GET `<server url><path>` with the token; the JSON answer, or None."""
        if not self._found:
            self._discover()
        if self.url is None:
            return None
        import httpx  # noqa: PLC0415 - only when a server is asked

        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        try:
            response = httpx.get(self.url + path, headers=headers, timeout=self.timeout)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None

    def __call__(self) -> Mapping[str, Any] | None:
        answer = self.get("api/status")
        return answer if isinstance(answer, dict) else None


def find_parent_server(
    environ: Mapping[str, str], runtime_dir: str | Path | None = None
) -> dict[str, Any] | None:
    """The runtime file (`jpserver-<pid>.json`: url, token, ...) of the Jupyter server this
    process runs under: a kernel's parent (`JPY_PARENT_PID`); else, from a terminal, the
    server at `JUPYTER_SERVER_URL`, or the only live server in the runtime folder."""
    folder = runtime_dir or environ.get("JUPYTER_RUNTIME_DIR")
    if not folder:
        try:
            from jupyter_core.paths import jupyter_runtime_dir  # noqa: PLC0415
        except ImportError:
            return None
        folder = jupyter_runtime_dir()
    pid = environ.get("JPY_PARENT_PID", "")
    if pid.isdigit():
        return _server_file(Path(folder) / f"jpserver-{pid}.json")
    servers = [
        info
        for path in sorted(Path(folder).glob("jpserver-*.json"))
        if (info := _server_file(path)) is not None and _alive(info.get("pid"))
    ]
    wanted = environ.get("JUPYTER_SERVER_URL", "").rstrip("/")
    if wanted:
        return next((i for i in servers if str(i.get("url", "")).rstrip("/") == wanted), None)
    return servers[0] if len(servers) == 1 else None


def _server_file(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the reader ------------------------------------------------------------------------------


class _Auto:
    """Default status source: the Jupyter server this process runs under."""


AUTO = _Auto()


class SessionInfoReader:
    """Computes `SessionInfo`. Federation, limits and the cgroup layout are settled once;
    each `read()` reads only the environment, a few small cgroup files (psutil only where
    there are none) and the server status.

    - `federation`: a FederationConfig, a mapping, a built-in name or a file; default
      `$BINDERFED_FEDERATION` (from `environ`) or mybinder.
    - `limits`: a SessionLimits to use instead of the federation's, or a mapping of fields
      to override.
    - `member_map`: extra host -> member names, consulted first for the host matches.
    - `environ`: the environment to read (default: `os.environ`, read at each `read()`).
    - `cgroup_root`: where the cgroup files are (None: do not use cgroups);
      `proc_cgroup`: the text of /proc/self/cgroup (None: read it).
    - `status`: the Jupyter server's `api/status` dict, a callable returning one, or None;
      default: ask the server this process is a kernel of (over HTTP).
    - `process_root`: the PID whose process tree psutil measures without cgroups (default:
      the parent Jupyter server for a kernel, else this process).
    """

    def __init__(
        self,
        federation: FederationConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        limits: SessionLimits | Mapping[str, Any] | None = None,
        member_map: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        cgroup_root: str | Path | None = DEFAULT_CGROUP_ROOT,
        proc_cgroup: str | None = None,
        status: StatusSource | _Auto = AUTO,
        process_root: int | None = None,
        warn_memory_fraction: float = 0.8,
        warn_minutes: Sequence[int] = (10, 2),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._environ = environ
        env = os.environ if environ is None else environ
        if federation is None:
            federation = env.get(ENV_FEDERATION) or DEFAULT_FEDERATION
        self.federation = load_federation(federation)
        self.limits = resolve_limits(self.federation.limits, limits)
        self.member_map = dict(member_map or {})
        self.cgroup_root = Path(cgroup_root) if cgroup_root is not None else None
        self._proc_cgroup = proc_cgroup
        self._layout: CgroupLayout | _Auto | None = AUTO
        self.status: StatusSource = (
            JupyterServerStatus(environ=env) if isinstance(status, _Auto) else status
        )
        self.process_root = process_root
        self.warn_memory_fraction = warn_memory_fraction
        self.warn_minutes = list(warn_minutes)
        self._clock = clock or _utcnow

    @property
    def cgroup(self) -> CgroupLayout | None:
        if isinstance(self._layout, _Auto):
            self._layout = (
                find_cgroup(self.cgroup_root, self._proc_cgroup)
                if self.cgroup_root is not None
                else None
            )
        return self._layout

    def _status(self, status: StatusSource | _Auto) -> Mapping[str, Any] | None:
        source = self.status if isinstance(status, _Auto) else status
        answer = source() if callable(source) else source
        return answer if isinstance(answer, Mapping) else None

    def read(
        self, status: StatusSource | _Auto = AUTO, *, now: datetime | None = None
    ) -> SessionInfo:
        """One reading. `status` (a dict, a callable or None) replaces the reader's source for
        this call; `now` fixes the clock."""
        env = os.environ if self._environ is None else self._environ
        moment = now or self._clock()
        limits = self.limits
        in_binder = any(env.get(name) for name in BINDER_VARIABLES)

        layout = self.cgroup
        reading = read_cgroup(layout) if layout is not None else None
        memory_used: int | None = None
        memory_source: MemorySource | None = None
        if reading is not None and reading.memory_used is not None:
            memory_used = reading.memory_used
            memory_source = "cgroup-v2" if reading.version == 2 else "cgroup-v1"
        else:
            pid = self.process_root or default_process_root(env)
            memory_used = process_tree_rss(pid)
            memory_source = "psutil" if memory_used is not None else None
        memory_limit = choose_memory_limit(
            parse_bytes(env.get("MEM_LIMIT")),
            reading.memory_limit if reading is not None else None,
            limits.mem_limit,
            in_binder=in_binder,
        )
        env_guarantee = parse_bytes(env.get("MEM_GUARANTEE"))
        env_cpu = _parse_number(env.get("CPU_LIMIT"))
        common: dict[str, Any] = {
            "now": moment,
            "cull_window": limits.cull_every,
            "memory_used": memory_used,
            "memory_source": memory_source,
            "memory_limit": memory_limit,
            "limits": limits,
            "warn_memory_fraction": self.warn_memory_fraction,
            "warn_minutes": self.warn_minutes,
        }
        if not in_binder:
            return SessionInfo(
                in_binder=False,
                reason=NOT_IN_BINDER,
                memory_guarantee=env_guarantee,
                cpu_limit=env_cpu if env_cpu and env_cpu > 0 else None,
                **common,
            )

        member, member_source = identify_member(env, self.federation, self.member_map)
        answer = self._status(status)
        started = parse_status_time(answer.get("started")) if answer else None
        last_activity = parse_status_time(answer.get("last_activity")) if answer else None
        left = time_left(
            limits,
            now=moment,
            started=started,
            last_activity=last_activity,
            cpu_used=reading.cpu_seconds if reading is not None else None,
        )
        launch_host = public_url(env.get("BINDER_LAUNCH_HOST"))
        persistent_request = env.get("BINDER_PERSISTENT_REQUEST") or None
        ref_url = public_url(env.get("BINDER_REF_URL"))
        return SessionInfo(
            in_binder=True,
            member=member,
            member_source=member_source,
            federation=self.federation.name,
            repo_url=public_url(env.get("BINDER_REPO_URL")),
            ref_url=ref_url,
            ref=ref_of(persistent_request, ref_url),
            persistent_link=public_url(persistent_link(launch_host, persistent_request)),
            launch_host=launch_host,
            started=started,
            last_activity=last_activity,
            idle_seconds_left=left.idle,
            max_age_seconds_left=left.max_age,
            cpu_seconds_left=left.cpu,
            seconds_left=left.seconds,
            cull_reason=left.reason,
            memory_guarantee=env_guarantee or limits.mem_guarantee,
            cpu_limit=env_cpu if env_cpu and env_cpu > 0 else limits.cpu_limit,
            **common,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def read_session_info(
    federation: FederationConfig | Mapping[str, Any] | str | Path | None = None,
    **options: Any,
) -> SessionInfo:
    """One reading of this session's standing (see `SessionInfoReader` for the options).
    For repeated readings keep a `SessionInfoReader`: it settles the federation and the
    cgroup layout once."""
    return SessionInfoReader(federation, **options).read()


def fetch_session_info(
    url: str | None = None, token: str | None = None, *, timeout: float = 2.0
) -> SessionInfo | None:
    """The server extension's answer (`GET <url>binderfed/session`), from the server at `url`
    or the one this kernel runs under; None when there is none or it does not answer."""
    answer = JupyterServerStatus(url, token, timeout=timeout).get("binderfed/session")
    if not isinstance(answer, dict):
        return None
    return SessionInfo.model_validate(answer)
