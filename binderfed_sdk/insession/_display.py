"""The words a `SessionInfo` is shown with, made once here (from `binderfed_sdk._format`) and
carried in its JSON: the CLI, the widget and the JupyterLab status bar show them as they are.

The status bar counts the time left down between two polls: the strings that name the time
left come twice, as said at the reading and in `live`, with `{time_left}` where the
countdown goes (the front end fills it with its twin of `format_duration`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from binderfed_sdk._format import (
    format_bytes,
    format_cull_reason,
    format_duration,
    format_memory,
    format_percent,
    format_span,
)
from binderfed_sdk.insession._rules import level_at, time_thresholds

if TYPE_CHECKING:
    from binderfed_sdk.insession._model import SessionInfo

#: where a live text takes the time left (counted down by the front end)
TIME_LEFT = "{time_left}"
MEMORY_WARNING = (
    "memory is close to the limit: past it the kernel is killed (and its variables lost)."
)
NOT_READ = "unknown (the Jupyter server's activity record was not read)"
KERNEL_GOES_ON = "the session goes on; the kernel's variables are lost"


class LiveText(BaseModel):
    """The texts naming the time left, with `{time_left}` where it goes."""

    model_config = ConfigDict(frozen=True)

    summary: str
    time: str | None
    details: list[str]
    notification: str | None


class SessionDisplay(BaseModel):
    """What people read about a session, in the same words everywhere."""

    model_config = ConfigDict(frozen=True)

    #: "Binder session on gesis of mybinder.org", or "Not in a Binder session (...)"
    title: str
    #: the member's name, "unknown member" when nothing says which
    member: str
    #: "11 min 40 s" (None: no stop predicted, or not known)
    time_left: str | None
    #: the rule that stops the session first, in words following the time left
    cull_reason: str | None
    #: "11 min 40 s if nothing runs (stops from 14:05 UTC, up to 11 min later)"
    time: str | None
    #: why the session stops then: the mechanism that acts first, with its numbers
    cause: str | None
    #: "your kernel stops in about 9 min 40 s if it stays idle (...)": the kernel culler
    #: stops kernels, not the session (None: no kernel it will cull)
    kernel: str | None
    #: "1.1 / 2.0 GiB", "300 MiB used" (None: nothing known)
    memory: str | None
    #: one line: "gesis · 11 min 40 s left if nothing runs · 1.1 / 2.0 GiB"
    summary: str
    #: what to do about a level other than "ok" (empty when all is well)
    warnings: list[str]
    #: the lines of the status bar's hover text and popup
    details: list[str]
    #: the status bar's notification before the stop
    notification: str | None
    live: LiveText


def session_display(info: SessionInfo) -> SessionDisplay:
    """The display strings of one reading."""
    left = info.seconds_left
    texts = _texts(info, format_duration(left) if left is not None else None)
    live = _texts(info, TIME_LEFT if left is not None else None)
    warnings = []
    if info.time_level != "ok" and left is not None:
        warnings.append(
            f"about {format_duration(left)} left {format_cull_reason(info.cull_reason)}".rstrip()
            + ": save your work."
        )
    kernel = _kernel(info)
    stop = info.kernel_stop
    if (
        kernel is not None
        and stop is not None
        and (left is None or stop.earliest < left)
        and level_at(
            time_thresholds(info.warn_minutes, info.limits.kernel_idle_timeout), stop.earliest
        )
        != "ok"
    ):
        warnings.append(f"{kernel}: run a cell to keep it, or save what it holds.")
    if info.memory_level != "ok":
        warnings.append(MEMORY_WARNING)
    return SessionDisplay(
        title=texts.details[0],
        member=info.member or "unknown member",
        time_left=format_duration(left) if left is not None else None,
        cull_reason=format_cull_reason(info.cull_reason) or None,
        time=texts.time,
        cause=_cause(info, info.cull_reason),
        kernel=kernel,
        memory=format_memory(info.memory_used, info.memory_limit),
        summary=texts.summary,
        warnings=warnings,
        details=texts.details,
        notification=texts.notification,
        live=live,
    )


def _texts(info: SessionInfo, time_left: str | None) -> LiveText:
    """The strings that name the time left, with `time_left` as its text."""
    memory = format_memory(info.memory_used, info.memory_limit)
    if not info.in_binder:
        title = f"Not in a Binder session ({info.reason})" if info.reason else "Not in Binder"
        parts = ["Not in a Binder session", *([memory] if memory else [])]
        lines = [title, *([f"Memory: {memory}"] if memory else []), *_notes(info)]
        return LiveText(summary=" · ".join(parts), time=None, details=lines, notification=None)

    why = format_cull_reason(info.cull_reason)
    reason = f" {why}" if why else ""
    time = _time(info, time_left, reason)
    federation = f" of {info.federation}" if info.federation else ""
    lines = [f"Binder session on {info.member or 'an unknown member'}{federation}"]
    if info.repo_url:
        lines.append(f"Repository: {info.repo_url}")
    if info.ref:
        lines.append(f"Ref: {info.ref}")
    lines.append(f"Time left: {time}")
    if cause := _cause(info, info.cull_reason):
        lines.append(f"Why: {cause}")
    if kernel := _kernel(info):
        lines.append(f"Kernel: {kernel}")
    if memory:
        extra = []
        if info.memory_fraction is not None:
            extra.append(format_percent(info.memory_fraction))
        if info.memory_guarantee:
            extra.append(f"{format_bytes(info.memory_guarantee)} guaranteed")
        lines.append(f"Memory: {memory}" + (f" ({', '.join(extra)})" if extra else ""))
    if info.cpu_limit is not None:
        lines.append(f"CPU limit: {info.cpu_limit:g}")
    lines.extend(_notes(info))

    parts = [info.member or "Binder"]
    if time_left is not None:
        parts.append(f"{time_left} left{reason}")
    if memory:
        parts.append(memory)
    notification = None
    if time_left is not None:
        on = f" on {info.member}" if info.member else ""
        link = (
            f" The persistent link relaunches this repository: {info.persistent_link}"
            if info.persistent_link
            else ""
        )
        notification = (
            f"This Binder session{on} will stop in about {time_left}{reason}. Nothing is "
            f"kept: save your work and download it (File > Download) or push it to a "
            f"repository.{link}"
        )
    return LiveText(summary=" · ".join(parts), time=time, details=lines, notification=notification)


def _notes(info: SessionInfo) -> list[str]:
    """What was read but not used, one line each."""
    return [f"Not used: {note}" for note in info.notes]


def _time(info: SessionInfo, time_left: str | None, reason: str) -> str:
    left = info.seconds_left
    if left is None or time_left is None:
        return NOT_READ
    latest = info.seconds_left_latest
    late = format_span(latest - left) if latest is not None and latest > left else None
    if left <= 0:
        within = f", within {late}" if late else ""
        return f"none{reason}: it may stop any moment{within}"
    try:
        stop = info.now + timedelta(seconds=left)
    except OverflowError:  # past the calendar's end: an activity record from far ahead
        return f"{time_left}{reason}"
    if latest is None:
        return f"{time_left}{reason} (stops from {stop:%H:%M} UTC at the earliest)"
    if late is None:
        return f"{time_left}{reason} (stops at {stop:%H:%M} UTC)"
    return f"{time_left}{reason} (stops from {stop:%H:%M} UTC, up to {late} later)"


def _cause(info: SessionInfo, reason: str | None) -> str | None:
    """The mechanism behind `reason`, with the numbers it acts on."""
    limits = info.limits
    kernels = bool(info.kernels)
    if reason == "server-idle" and limits.server_idle_timeout is not None:
        alone = (
            f"the Jupyter server stops itself after "
            f"{format_duration(limits.server_idle_timeout)} with no activity"
        )
        if not kernels:
            return alone
        # jupyter_server waits for its kernels to go; a kernel's cull counts as activity
        first = "the kernel culler stops your idle kernel first, which counts as activity"
        return f"{first}; then {alone}"
    if reason == "idle":
        return (
            f"the hub's culler stops servers idle for {format_duration(limits.idle_timeout)} "
            f"(it checks every {format_duration(limits.cull_every)} and learns of activity "
            f"every {format_duration(limits.activity_interval)})"
        )
    if reason == "max-age" and limits.max_age is not None:
        return f"sessions are stopped {format_duration(limits.max_age)} after they start"
    if reason == "cpu" and limits.cpu_seconds is not None:
        return (
            f"the CPU-time budget of {format_duration(limits.cpu_seconds)} runs out "
            "(at the earliest: at full use)"
        )
    return None


def _kernel(info: SessionInfo) -> str | None:
    """When the kernel culler stops the first idle kernel (the session goes on)."""
    stop = info.kernel_stop
    if stop is None or not info.in_binder:
        return None
    timeout = info.limits.kernel_idle_timeout
    which = "your kernel" if (info.kernels or 0) <= 1 else f"one of your {info.kernels} kernels"
    idle = f" (idle for {format_duration(timeout)})" if timeout else ""
    if stop.earliest <= 0:
        return f"{which} may stop any moment{idle}: {KERNEL_GOES_ON}"
    late = (
        f", up to {format_span(stop.latest - stop.earliest)} later"
        if stop.latest is not None and stop.latest > stop.earliest
        else ""
    )
    return (
        f"{which} stops in about {format_duration(stop.earliest)} if it stays idle{late}"
        f" ({KERNEL_GOES_ON})"
    )
