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
)

if TYPE_CHECKING:
    from binderfed_sdk.insession._model import SessionInfo

#: where a live text takes the time left (counted down by the front end)
TIME_LEFT = "{time_left}"
MEMORY_WARNING = (
    "memory is close to the limit: past it the kernel is killed (and its variables lost)."
)
NOT_READ = "unknown (the Jupyter server's activity record was not read)"


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
    if info.memory_level != "ok":
        warnings.append(MEMORY_WARNING)
    return SessionDisplay(
        title=texts.details[0],
        member=info.member or "unknown member",
        time_left=format_duration(left) if left is not None else None,
        cull_reason=format_cull_reason(info.cull_reason) or None,
        time=texts.time,
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
        lines = [title, *([f"Memory: {memory}"] if memory else [])]
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
    if memory:
        extra = []
        if info.memory_fraction is not None:
            extra.append(format_percent(info.memory_fraction))
        if info.memory_guarantee:
            extra.append(f"{format_bytes(info.memory_guarantee)} guaranteed")
        lines.append(f"Memory: {memory}" + (f" ({', '.join(extra)})" if extra else ""))
    if info.cpu_limit is not None:
        lines.append(f"CPU limit: {info.cpu_limit:g}")

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


def _time(info: SessionInfo, time_left: str | None, reason: str) -> str:
    left = info.seconds_left
    if left is None or time_left is None:
        return NOT_READ
    late = format_duration(info.cull_window)
    if left <= 0:
        return f"none{reason}: the culler may stop it any moment, within {late}"
    stop = info.now + timedelta(seconds=left)
    return f"{time_left}{reason} (stops from {stop:%H:%M} UTC, up to {late} later)"
