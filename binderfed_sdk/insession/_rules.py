"""The pure rules: time left before each stopping mechanism, levels, limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._format import Level
from binderfed_sdk.federation._limits import SessionLimits

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


CullReason = Literal["idle", "max-age", "cpu"]
#: memory at or above this fraction of the limit is "danger" (the kernel kills at the limit)
DANGER_MEMORY_FRACTION = 0.95
_EPOCH = datetime.fromtimestamp(0, UTC)


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
        "max-age": limits.max_age,
        "cpu": limits.cpu_seconds,
    }.get(reason or "")


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
