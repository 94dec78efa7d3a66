"""The pure rules: time left before each stopping mechanism, levels, limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._format import Level
from binderfed_sdk.federation._limits import SessionLimits

if TYPE_CHECKING:
    from collections.abc import Sequence


#: what stops the session: the hub's idle culler ("idle"), the Jupyter server's own idle
#: shutdown ("server-idle"), the culler's max age, the CPU-time budget
CullReason = Literal["idle", "server-idle", "max-age", "cpu"]
#: ... and what stops a kernel but not the session
StopReason = Literal["idle", "server-idle", "max-age", "cpu", "kernel"]
#: memory at or above this fraction of the limit is "danger" (the kernel kills at the limit)
DANGER_MEMORY_FRACTION = 0.95
_EPOCH = datetime.fromtimestamp(0, UTC)
#: at equal windows, the order in which a cause is named first
_ORDER: tuple[CullReason, ...] = ("server-idle", "idle", "max-age", "cpu")


# --- pure rules ------------------------------------------------------------------------------


class StopWindow(BaseModel):
    """When one mechanism stops the session (or a kernel): between `earliest` and `latest`
    seconds from the reading (`latest` None: no bound, e.g. the CPU budget of a session
    that may stay idle). Both clamped at 0."""

    model_config = ConfigDict(frozen=True)

    reason: StopReason
    earliest: float
    latest: float | None


@dataclass(frozen=True)
class KernelActivity:
    """One kernel as the Jupyter server's kernel manager sees it (`api/kernels`)."""

    last_activity: datetime | None
    execution_state: str | None = None
    connections: int = 0


@dataclass(frozen=True)
class TimeLeft:
    """Seconds before each mechanism stops the session (None: unknown, or never).

    `idle`, `server_idle`, `max_age` and `cpu` are the earliest stop of each; `seconds` and
    `latest` bound the session's end (the first mechanism to act); `reason` names the one
    expected first; `windows` has every predicted stop, soonest first; `kernel` is when the
    kernel culler stops the first idle kernel (the session goes on)."""

    idle: float | None
    max_age: float | None
    cpu: float | None
    seconds: float | None
    reason: CullReason | None
    server_idle: float | None = None
    latest: float | None = None
    windows: tuple[StopWindow, ...] = ()
    kernel: StopWindow | None = None
    kernels: int | None = None


def _window(reason: StopReason, earliest: float, latest: float | None) -> StopWindow:
    return StopWindow(
        reason=reason,
        earliest=max(0.0, earliest),
        latest=None if latest is None else max(0.0, latest),
    )


def _kernel_culls(
    limits: SessionLimits, now: datetime, kernels: Sequence[KernelActivity], fallback: float
) -> list[tuple[float, float] | None]:
    """For each kernel, when the kernel culler stops it (seconds from now, raw), or None
    when it never will: culler off, busy (unless `cull_busy`), connected (unless
    `cull_connected`). jupyter_server culls a kernel idle more than the timeout at its next
    check (every `cull_interval`): between timeout and timeout + interval after its last
    activity."""
    timeout = limits.kernel_idle_timeout
    culls: list[tuple[float, float] | None] = []
    for kernel in kernels:
        if (
            timeout is None
            or (kernel.execution_state == "busy" and not limits.kernel_cull_busy)
            or (kernel.connections > 0 and not limits.kernel_cull_connected)
        ):
            culls.append(None)
            continue
        last = (
            -(now - kernel.last_activity).total_seconds()
            if kernel.last_activity is not None
            else fallback
        )
        culls.append((last + timeout, last + timeout + limits.kernel_cull_every))
    return culls


def time_left(
    limits: SessionLimits,
    *,
    now: datetime,
    started: datetime | None,
    last_activity: datetime | None,
    cpu_used: float | None = None,
    kernels: Sequence[KernelActivity] | None = None,
) -> TimeLeft:
    """Every mechanism that stops a session, turned into time left.

    - the hub's idle culler (jupyterhub-idle-culler): `inactive = now - (last_activity or
      started)`, stop when `inactive >= timeout`, checked every `cull_every`; the hub learns
      activity every `activity_interval` (and from proxy traffic the server does not count),
      so the stop comes between `timeout` and `timeout + activity_interval + cull_every`
      after the last activity;
    - the Jupyter server's own shutdown (`shutdown_no_activity_timeout`): only once it has
      no kernel, then between the timeout and the timeout + 60 s after its last activity;
    - the kernel culler: stops each idle kernel, and that counts as the server's activity
      (its idle clocks restart then; the hub hears of it too), so with an idle kernel open
      the session ends about kernel timeout + idle timeout after the last activity;
    - the culler's max age, from `started`, whatever the activity (checked every
      `cull_every`);
    - the CPU budget minus the CPU time used: at the earliest at full use of `cpu_limit`
      cores, at the latest never (an idle session uses none).

    `kernels` None: not known (the server's shutdown then has no later bound). The first
    to act is the one with the soonest earliest stop (ties: the soonest latest)."""
    inactive: float | None = None
    reference = last_activity or started
    if reference is not None:
        inactive = (now - reference).total_seconds()

    windows: list[StopWindow] = []
    kernel: StopWindow | None = None
    if inactive is not None:
        # when the last activity comes, as far as the idle clocks know (seconds from now,
        # raw): the recorded one, or the cull of the last kernel to go
        first, last = -inactive, -inactive
        every_kernel_goes = True
        if kernels:
            culls = _kernel_culls(limits, now, kernels, -inactive)
            going = [cull for cull in culls if cull is not None]
            every_kernel_goes = len(going) == len(culls)
            if going:
                first = max(first, *(cull[0] for cull in going))
                last = max(last, *(cull[1] for cull in going))
                soonest = min(going)
                kernel = _window("kernel", soonest[0], min(cull[1] for cull in going))
        windows.append(
            _window(
                "idle",
                first + limits.idle_timeout,
                last + limits.idle_timeout + limits.activity_interval + limits.cull_every,
            )
        )
        timeout = limits.server_idle_timeout
        if timeout is not None and every_kernel_goes:
            windows.append(
                _window(
                    "server-idle",
                    first + timeout,
                    last + timeout + limits.server_check_every if kernels is not None else None,
                )
            )
    if limits.max_age is not None and started is not None:
        age_left = limits.max_age - (now - started).total_seconds()
        windows.append(_window("max-age", age_left, age_left + limits.cull_every))
    if limits.cpu_seconds is not None and cpu_used is not None:
        cores = limits.cpu_limit or 1.0
        windows.append(_window("cpu", (limits.cpu_seconds - cpu_used) / cores, None))

    windows.sort(
        key=lambda w: (
            w.earliest,
            math.inf if w.latest is None else w.latest,
            _ORDER.index(w.reason),
        )
    )
    earliest = {w.reason: w.earliest for w in windows}
    latests = [w.latest for w in windows if w.latest is not None]
    first_stop = windows[0] if windows else None
    return TimeLeft(
        idle=earliest.get("idle"),
        server_idle=earliest.get("server-idle"),
        max_age=earliest.get("max-age"),
        cpu=earliest.get("cpu"),
        seconds=first_stop.earliest if first_stop else None,
        reason=first_stop.reason if first_stop else None,  # type: ignore[arg-type]
        latest=min(latests) if latests else None,
        windows=tuple(windows),
        kernel=kernel,
        kernels=len(kernels) if kernels is not None else None,
    )


def parse_kernels(value: Any) -> list[KernelActivity] | None:
    """The kernels of an `api/kernels` answer (a list of kernel models); None if it is not
    one."""
    if not isinstance(value, list):
        return None
    kernels = []
    for model in value:
        if not isinstance(model, Mapping):
            continue
        state = model.get("execution_state")
        connections = model.get("connections")
        kernels.append(
            KernelActivity(
                last_activity=parse_status_time(model.get("last_activity")),
                execution_state=state if isinstance(state, str) else None,
                connections=connections if isinstance(connections, int) else 0,
            )
        )
    return kernels


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


class Threshold(BaseModel):
    """Under `minutes` left, the time level is `level`."""

    model_config = ConfigDict(frozen=True)

    minutes: int
    level: Level


def time_thresholds(
    warn_minutes: Sequence[int] = (10, 2), budget: float | None = None
) -> list[Threshold]:
    """The thresholds that apply, largest first: the largest of `warn_minutes` is "warning",
    the smallest "danger" (when there are two or more). A threshold at or above `budget`
    (the full length of the rule that ends the session first) is left out: it would always
    be on. On mybinder.org the idle timeout is 600 s, so idle time left is always under 10
    minutes; only the 2-minute threshold applies to it, and it is "danger"."""
    minutes = sorted({m for m in warn_minutes if m > 0}, reverse=True)
    levels: list[Level] = ["warning" for _ in minutes]
    if len(levels) > 1:
        levels[-1] = "danger"
    return [
        Threshold(minutes=m, level=level)
        for m, level in zip(minutes, levels, strict=True)
        if budget is None or m * 60 < budget
    ]


def level_at(thresholds: Sequence[Threshold], seconds_left: float | None) -> Level:
    """The level of the smallest threshold `seconds_left` is under ("ok" above them all).
    The status bar's countdown applies the same rule to the thresholds it is sent."""
    level: Level = "ok"
    if seconds_left is None:
        return level
    for threshold in thresholds:
        if seconds_left < threshold.minutes * 60:
            level = threshold.level
    return level


def time_level(
    seconds_left: float | None,
    warn_minutes: Sequence[int] = (10, 2),
    budget: float | None = None,
) -> Level:
    """The level for `seconds_left` (see `time_thresholds`)."""
    return level_at(time_thresholds(warn_minutes, budget), seconds_left)


def rule_budget(limits: SessionLimits, reason: CullReason | None) -> float | None:
    """The full length of a culling rule: the idle timeout, the max age, the CPU budget."""
    return {
        "idle": limits.idle_timeout,
        "server-idle": limits.server_idle_timeout,
        "max-age": limits.max_age,
        "cpu": limits.cpu_seconds,
    }.get(reason or "")


#: the largest byte count taken as a limit (cgroup counters are signed 64-bit)
MAX_BYTES = (1 << 63) - 1


def parse_bytes(value: str | None) -> int | None:
    """MEM_LIMIT / MEM_GUARANTEE: bytes as a number ("2147483648", "2.147483648e9")."""
    return bytes_or_reason(value)[0]


def bytes_or_reason(value: str | None) -> tuple[int | None, str | None]:
    """A byte count, or None and why it is not one (None, None: no value at all). Whole
    numbers are read exactly (no float rounding); anything not a positive finite count up
    to `MAX_BYTES` is refused."""
    if value is None or not value.strip():
        return None, None
    number: int | float | None
    try:
        number = int(value)
    except ValueError:  # "2.1e9", or more digits than int() reads
        number, why = number_or_reason(value)
        if number is None:
            return None, why
    if not 0 < number <= MAX_BYTES:
        return None, "not a byte count between 1 and 2^63 - 1"
    return int(number), None


def number_or_reason(value: str | None) -> tuple[float | None, str | None]:
    """A positive finite number (CPU_LIMIT, a byte count), or None and why not."""
    if value is None or not value.strip():
        return None, None
    try:
        number = float(value)
    except ValueError:
        return None, "not a number"
    if not math.isfinite(number) or number <= 0:
        return None, "not a positive finite number"
    return number, None


def _parse_number(value: str | None) -> float | None:
    return number_or_reason(value)[0]


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
