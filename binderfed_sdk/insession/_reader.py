"""The reader: puts the environment, cgroup files and the server's status through the rules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from binderfed_sdk._errors import BinderFedError
from binderfed_sdk._format import format_bytes, format_duration
from binderfed_sdk._lazy import publish
from binderfed_sdk.federation._config import (
    DEFAULT_FEDERATION,
    ENV_FEDERATION,
    FederationConfig,
    load_federation,
)
from binderfed_sdk.insession._member import (
    identify_member,
    latest_link,
    persistent_link,
    public_url,
    ref_of,
)
from binderfed_sdk.insession._memory import (
    DEFAULT_CGROUP_ROOT,
    CgroupLayout,
    CgroupReading,
    CgroupWatch,
    Membership,
    default_process_root,
    find_cgroup,
    is_ancestor,
    process_tree_usage,
    read_cgroup,
)
from binderfed_sdk.insession._model import MemorySource, SessionInfo
from binderfed_sdk.insession._rules import (
    bytes_or_reason,
    choose_memory_limit,
    number_or_reason,
    parse_kernels,
    parse_status_time,
    resolve_limits,
    time_left,
)
from binderfed_sdk.insession._server import KERNELS_KEY, JupyterServerStatus, find_parent_server

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from binderfed_sdk.federation._limits import SessionLimits

    #: an `api/status` answer, or something that fetches one (None: unknown)
    StatusSource: TypeAlias = Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None

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
      default: ask the server this process is a kernel of (over HTTP). Its `kernel_activity`
      (the `api/kernels` list: last_activity, execution_state, connections) gives the
      kernel culler's stops.
    - `process_root`: the PID of the Jupyter server, the root of the session's process tree
      (default: the parent server of a kernel, the server a terminal's process runs under,
      else this process). The cgroup's figures are used only when the cgroup is the
      session's own: every process in it is the server, one of its descendants (kernels,
      terminals) or one of its ancestors (the container's entrypoint). A cgroup shared with
      other processes (a sandbox on a laptop or in one container: the hub, the proxy, other
      sessions) gives the machine's figures, not the session's: then psutil measures the
      server's process tree, and `memory_source` is "process-tree".
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
        #: what the settled parts could not use (a broken $BINDERFED_FEDERATION)
        self._notes: list[str] = []
        if federation is None:
            self.federation = self._federation_from(env)
        else:
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
        self._root: int | None = None
        #: whose each cgroup folder is, followed from reading to reading
        self._watches: dict[Path, CgroupWatch] = {}
        self.warn_memory_fraction = warn_memory_fraction
        self.warn_minutes = list(warn_minutes)
        self._clock = clock or _utcnow

    def _federation_from(self, env: Mapping[str, str]) -> FederationConfig:
        """$BINDERFED_FEDERATION, else mybinder; one that does not load counts as not set (a
        session's status must not fail on its environment), with a note."""
        name = env.get(ENV_FEDERATION) or DEFAULT_FEDERATION
        try:
            return load_federation(name)
        except (BinderFedError, OSError, ValueError, RecursionError) as error:
            self._notes.append(
                f"{ENV_FEDERATION}: not a federation ({type(error).__name__}), "
                f"{DEFAULT_FEDERATION} used"
            )
            return load_federation(DEFAULT_FEDERATION)

    @property
    def cgroup(self) -> CgroupLayout | None:
        if isinstance(self._layout, _Auto):
            self._layout = (
                find_cgroup(self.cgroup_root, self._proc_cgroup)
                if self.cgroup_root is not None
                else None
            )
        return self._layout

    def session_root(self) -> int:
        """The Jupyter server's PID (see `process_root`), settled at the first call."""
        if self.process_root is not None:
            return self.process_root
        if self._root is None:
            env = os.environ if self._environ is None else self._environ
            root = default_process_root(env)
            if root == os.getpid():
                # not a kernel: a terminal's process (or the server itself) runs under the
                # server whose runtime file names it
                server = find_parent_server(env)
                pid = server.get("pid") if server is not None else None
                if isinstance(pid, int) and pid > 0 and is_ancestor(pid, root):
                    root = pid
            self._root = root
        return self._root

    def _membership(self, folder: Path | None, root: int) -> Membership | None:
        if folder is None:
            return None
        watch = self._watches.get(folder)
        if watch is None or watch.root != root:
            watch = self._watches[folder] = CgroupWatch(folder, root)
        return watch.membership()

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
        notes = list(self._notes)

        def figure(name: str, parse: Callable[[str | None], tuple[Any, str | None]]) -> Any:
            value, why = parse(env.get(name))
            if why is not None:
                notes.append(f"{name}: {why}, read as unknown")
            return value

        layout = self.cgroup
        reading = read_cgroup(layout) if layout is not None else None
        if reading is not None:
            notes.extend(reading.notes)
        env_limit = figure("MEM_LIMIT", bytes_or_reason)
        env_guarantee = figure("MEM_GUARANTEE", bytes_or_reason)
        env_cpu = figure("CPU_LIMIT", number_or_reason)
        figures = _session_figures(layout, reading, self.session_root(), self._membership, notes)
        memory_limit = choose_memory_limit(
            env_limit,
            figures.memory_limit,
            limits.mem_limit,
            in_binder=in_binder,
        )
        common: dict[str, Any] = {
            "now": moment,
            "cull_window": limits.cull_every,
            "memory_used": figures.memory_used,
            "memory_source": figures.memory_source,
            "memory_limit": memory_limit,
            "limits": limits,
            "warn_memory_fraction": self.warn_memory_fraction,
            "warn_minutes": self.warn_minutes,
            "notes": notes,
        }
        if not in_binder:
            return SessionInfo(
                in_binder=False,
                reason=NOT_IN_BINDER,
                memory_guarantee=env_guarantee,
                cpu_limit=env_cpu,
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
            cpu_used=figures.cpu_seconds,
            kernels=parse_kernels(answer.get(KERNELS_KEY)) if answer else None,
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
            latest_link=public_url(
                latest_link(launch_host, env.get("BINDER_REQUEST"), persistent_request)
            ),
            launch_host=launch_host,
            started=started,
            last_activity=last_activity,
            idle_seconds_left=left.idle,
            server_idle_seconds_left=left.server_idle,
            max_age_seconds_left=left.max_age,
            cpu_seconds_left=left.cpu,
            seconds_left=left.seconds,
            seconds_left_latest=left.latest,
            cull_reason=left.reason,
            stops=list(left.windows),
            kernel_stop=left.kernel,
            kernels=left.kernels,
            memory_guarantee=env_guarantee or limits.mem_guarantee,
            cpu_limit=env_cpu or limits.cpu_limit,
            **common,
        )


@dataclass(frozen=True)
class _Figures:
    memory_used: int | None = None
    memory_source: MemorySource | None = None
    #: the cgroup's limit, when the cgroup is the session's own
    memory_limit: int | None = None
    cpu_seconds: float | None = None


def _session_figures(
    layout: CgroupLayout | None,
    reading: CgroupReading | None,
    root: int,
    membership_of: Callable[[Path | None, int], Membership | None],
    notes: list[str],
) -> _Figures:
    """The session's memory and CPU use: the cgroup's when it is the session's own (or
    nothing tells whose it is), else the process tree's, with a note of what was not used."""
    memory_group = membership_of(layout.memory_dir if layout is not None else None, root)
    cpu_group = (
        memory_group
        if layout is None or layout.cpu_dir == layout.memory_dir
        else membership_of(layout.cpu_dir, root)
    )
    memory_own = reading is not None and reading.memory_used is not None and _own(memory_group)
    cpu_own = reading is not None and reading.cpu_seconds is not None and _own(cpu_group)
    tree = None if memory_own and cpu_own else process_tree_usage(root)
    figures = _Figures()
    if reading is not None and memory_own:
        source: MemorySource = "cgroup-v2" if reading.version == 2 else "cgroup-v1"
        figures = _Figures(reading.memory_used, source, reading.memory_limit)
    elif tree is not None:
        figures = _Figures(tree.rss, "process-tree")
    if reading is not None and reading.memory_used is not None and not memory_own:
        of = f", limit {format_bytes(reading.memory_limit)}" if reading.memory_limit else ""
        notes.append(
            f"cgroup memory ({format_bytes(reading.memory_used)} used{of}): "
            f"{_shared(memory_group)}; shown instead: the memory of this session's own "
            "processes (the Jupyter server, its kernels and terminals)"
        )
    if reading is None or reading.cpu_seconds is None:
        return figures
    if cpu_own:
        return replace(figures, cpu_seconds=reading.cpu_seconds)
    notes.append(
        f"cgroup CPU time ({format_duration(reading.cpu_seconds)}): {_shared(cpu_group)}; "
        "counted instead: the CPU time of this session's own processes"
    )
    return replace(figures, cpu_seconds=tree.cpu_seconds if tree is not None else None)


def _own(group: Membership | None) -> bool:
    """None: nothing tells whose the cgroup is (no cgroup.procs): it counts as the session's,
    as it is in a Binder pod."""
    return group is None or group.own


def _shared(group: Membership | None) -> str:
    if group is None or not group.has_root:
        return "the Jupyter server is not in it"
    if group.others is None:
        return "shared with more processes than a session has"
    count = "1 process" if group.others == 1 else f"{group.others} processes"
    return f"shared with {count} outside this session"


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


publish(__name__)  # public classes show as binderfed_sdk.X
