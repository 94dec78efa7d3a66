"""The answer of a reading inside a session: `SessionInfo` and the words it uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from binderfed_sdk._format import Level, worst_level
from binderfed_sdk._lazy import publish
from binderfed_sdk.federation._limits import SessionLimits
from binderfed_sdk.insession._display import SessionDisplay, session_display
from binderfed_sdk.insession._member import http_link
from binderfed_sdk.insession._rules import (
    CullReason,
    StopWindow,
    Threshold,
    level_at,
    memory_level,
    rule_budget,
    time_thresholds,
)

MemberSource = Literal["sandbox", "image-registry", "hub-host", "launch-host"]
#: where `memory_used` comes from: the cgroup's files, or the RSS of the session's process
#: tree (the Jupyter server, its kernels and terminals) where the cgroup is not the session's
#: own (shared with other processes) or there is none
MemorySource = Literal["cgroup-v2", "cgroup-v1", "process-tree"]


# --- the answer ------------------------------------------------------------------------------


class SessionInfo(BaseModel):
    """One reading of a session's standing. `model_dump(mode="json")` is the server
    extension's wire format (`GET <base_url>binderfed/session`); it carries the computed
    levels and `display`, the words every front end shows (CLI, widget, status bar)."""

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
    #: opens the newest version: launch host + BINDER_REQUEST (the ref as launched, a branch
    #: moves on), or the default branch when launched at an exact commit (None: no newer one)
    latest_link: str | None = None
    launch_host: str | None = None
    #: from the session's own Jupyter server (its `api/status`), not from the hub
    started: datetime | None = None
    last_activity: datetime | None = None
    now: datetime
    #: the earliest stop by each mechanism: the hub's idle culler, the Jupyter server's own
    #: idle shutdown, the culler's max age, the CPU budget (None: not known, or never)
    idle_seconds_left: float | None = None
    server_idle_seconds_left: float | None = None
    max_age_seconds_left: float | None = None
    cpu_seconds_left: float | None = None
    #: the session ends between `seconds_left` and `seconds_left_latest` from `now` (the
    #: earliest stop of the mechanism that acts first, the latest any of them can come;
    #: None: no later bound known); `cull_reason` says which is expected first
    seconds_left: float | None = None
    seconds_left_latest: float | None = None
    cull_reason: CullReason | None = None
    #: why: every predicted stop, soonest first
    stops: list[StopWindow] = Field(default_factory=list)
    #: when the kernel culler stops the first idle kernel: the kernel (and its variables)
    #: goes, the session does not (None: no kernel, or none it will cull)
    kernel_stop: StopWindow | None = None
    #: how many kernels run (None: not known)
    kernels: int | None = None
    #: the hub culler's check interval
    cull_window: float
    #: bytes in use: the cgroup's working set (usage minus inactive page cache) when the
    #: cgroup is the session's own, else the RSS of the Jupyter server's process tree
    memory_used: int | None = None
    memory_source: MemorySource | None = None
    memory_limit: int | None = None
    memory_guarantee: int | None = None
    cpu_limit: float | None = None
    limits: SessionLimits
    warn_memory_fraction: float = 0.8
    warn_minutes: list[int] = Field(default_factory=lambda: [10, 2])
    #: what was read but not used, and why ("MEM_LIMIT: not a positive finite number, read
    #: as unknown"): the figure it would give shows as unknown
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _only_http_links(cls, data: Any) -> Any:
        """A link that is not http(s) (`javascript:...`) is never offered: dropped, with a
        note, whether the reader made it or a fetched answer carries it."""
        if not isinstance(data, dict):
            return data
        dropped = [
            name
            for name in ("persistent_link", "latest_link", "launch_host")
            if isinstance(data.get(name), str) and http_link(data[name]) is None
        ]
        if not dropped:
            return data
        notes = data.get("notes")
        notes = list(notes) if isinstance(notes, list) else []
        notes += [f"{name}: not an http(s) URL, not shown" for name in dropped]
        return {**data, **dict.fromkeys(dropped), "notes": notes}

    @property
    def memory_fraction(self) -> float | None:
        if self.memory_used is None or not self.memory_limit:
            return None
        return self.memory_used / self.memory_limit

    @computed_field  # type: ignore[prop-decorator]
    @property
    def memory_level(self) -> Level:
        return memory_level(self.memory_used, self.memory_limit, self.warn_memory_fraction)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_thresholds(self) -> list[Threshold]:
        """The thresholds that apply to the rule ending the session first, largest first:
        the status bar's countdown takes its level from them between two readings."""
        return time_thresholds(self.warn_minutes, rule_budget(self.limits, self.cull_reason))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def time_level(self) -> Level:
        return level_at(self.time_thresholds, self.seconds_left)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def level(self) -> Level:
        """The worse of `time_level` and `memory_level`."""
        return worst_level(self.time_level, self.memory_level)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def display(self) -> SessionDisplay:
        """The words this reading is shown with (see `binderfed_sdk.insession._display`)."""
        return session_display(self)


publish(__name__)  # public classes show as binderfed_sdk.X
