"""The words a `SessionInfo` is shown with, made once here (from `binderfed_sdk._format`) and
carried in its JSON: the CLI, the widget and the JupyterLab status bar show them as they are.

The status bar counts the time left down between two polls: the strings that name the time
left come twice, as said at the reading and in `live`, with `{time_left}` where the
countdown goes (the front end fills it with its twin of `format_duration`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from binderfed_sdk._format import (
    format_bytes,
    format_cull_reason,
    format_duration,
    format_memory,
    format_percent,
    format_span,
)
from binderfed_sdk.insession._member import http_link
from binderfed_sdk.insession._rules import level_at, time_thresholds

if TYPE_CHECKING:
    from collections.abc import Sequence

    from binderfed_sdk.insession._model import SessionInfo

#: where a live text takes the time left (counted down by the front end)
TIME_LEFT = "{time_left}"
NOT_READ = "unknown (the Jupyter server's activity record was not read)"
KERNEL_GOES_ON = "the session goes on; the kernel's variables are lost"
#: the label of the button (or link) that downloads the changed files (`binderfed/download`)
DOWNLOAD_LABEL = "Download my work"
SAVE = f"Save your work and download it ({DOWNLOAD_LABEL})"
#: what keeps an idle session alive: JupyterLab reports activity while its tab is in the
#: foreground; browsers throttle background tabs' timers, and the reports stop
KEEP_ACTIVE = (
    "To keep the session, run something, or keep this tab open and in the foreground: "
    "browsers slow down background tabs, and JupyterLab then stops reporting your activity."
)
#: the limit that stops the session first, named as people say it
LIMIT_NAMES = {
    "idle": "the hub's idle culler",
    "server-idle": "the Jupyter server's own idle shutdown",
    "max-age": "the session age limit",
    "cpu": "the CPU-time budget",
}
#: what to do before each limit acts, after saving and downloading
TODO = {
    "idle": f"{SAVE}. {KEEP_ACTIVE}",
    "server-idle": f"{SAVE}. {KEEP_ACTIVE}",
    "max-age": (
        f"{SAVE}. Nothing keeps a session past its age limit: open it again afterwards "
        "(this exact commit, or the latest)."
    ),
    "cpu": f"{SAVE}. Heavy computation brings the stop closer.",
}
#: where a terminal sends a person for the download (only the browser can save the file)
DOWNLOAD_WHERE = (
    "the button in the Binder popup of JupyterLab's status bar, or open {path} in this "
    "session's browser tab"
)
KERNEL_TODO = "Run a cell to keep it, or save what it holds (write results to files)."
MEMORY_TODO = f"{SAVE}; free memory (delete large variables) or restart the kernel."


class LiveText(BaseModel):
    """The texts naming the time left, with `{time_left}` where it goes."""

    model_config = ConfigDict(frozen=True)

    summary: str
    time: str | None
    details: list[str]
    notification: str | None
    #: the time warning (cause, when, what to do), whatever the level at the reading: a
    #: countdown that crosses a threshold between two readings shows it
    warning: str | None = None


class RelaunchLink(BaseModel):
    """A link that opens the repository again (http(s) only: the model drops any other)."""

    model_config = ConfigDict(frozen=True)

    #: "Open this exact commit again", "Open the latest"
    label: str
    url: str
    #: what it opens: "commit 4f1ab2c9d0e1, as in this session"
    hint: str


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
    #: the limit that stops the session first, in words ("the hub's idle culler")
    first_limit: str | None = None
    #: the label of the button that downloads the changed files
    download_label: str = DOWNLOAD_LABEL
    #: open this exact commit again, open the latest (only http(s) links)
    links: list[RelaunchLink] = Field(default_factory=list)


def session_display(info: SessionInfo) -> SessionDisplay:
    """The display strings of one reading."""
    left = info.seconds_left
    texts = _texts(info, format_duration(left) if left is not None else None)
    live = _texts(info, TIME_LEFT if left is not None else None)
    warnings = []
    if info.time_level != "ok" and texts.warning is not None:
        warnings.append(texts.warning)
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
        warnings.append(f"{kernel}: {_kernel_why(info)}. {KERNEL_TODO}")
    if info.memory_level != "ok":
        warnings.append(_memory_warning(info))
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
        first_limit=LIMIT_NAMES.get(info.cull_reason or "") if info.in_binder else None,
        links=relaunch_links(info),
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
    notification = warning = None
    if time_left is not None:
        on = f" on {info.member}" if info.member else ""
        link = (
            f" Open this exact commit again: {info.persistent_link}" if info.persistent_link else ""
        )
        when, acts = _when(info, time_left), _why(info)
        todo = TODO.get(info.cull_reason or "", f"{SAVE}.")
        first = f" {acts}." if acts else ""
        warning = f"This session stops {when}.{first} {todo}"
        # JupyterLab's toast shows the first 140 characters: what, why and what to do first
        cause = f" ({LIMIT_NAMES[info.cull_reason]})" if info.cull_reason in LIMIT_NAMES else ""
        notification = (
            f"Binder stops this session in about {time_left}{cause}: download your work. "
            f"This Binder session{on} will stop {when}.{first} Nothing is kept: "
            f"{todo[0].lower()}{todo[1:]}{link}"
        )
    return LiveText(
        summary=" · ".join(parts),
        time=time,
        details=lines,
        notification=notification,
        warning=warning,
    )


def _clock(now: datetime, seconds: float) -> str | None:
    """The clock time (UTC) `seconds` after `now`; None past the calendar's end."""
    try:
        return f"{now + timedelta(seconds=seconds):%H:%M}"
    except OverflowError:  # an activity record from far ahead
        return None


def _when(info: SessionInfo, time_left: str) -> str:
    """When the first limit acts, as an interval where the timing varies: "in about 9 min
    50 s if nothing runs, up to 16 min later (between 10:40 and 10:56 UTC)"."""
    left = info.seconds_left or 0.0
    latest = info.seconds_left_latest
    # only the idle limits depend on what runs; the age limit and the CPU budget do not
    reason = " if nothing runs" if info.cull_reason in ("idle", "server-idle") else ""
    late = format_span(latest - left) if latest is not None and latest > left else None
    if left <= 0:
        return f"any moment now{reason}" + (f", within {late}" if late else "")
    start = _clock(info.now, left)
    if latest is None:
        at = f" (from {start} UTC)" if start else ""
        return f"in about {time_left}{reason} at the earliest{at}"
    if late is None:
        return f"in about {time_left}{reason}" + (f" (at {start} UTC)" if start else "")
    end = _clock(info.now, latest)
    between = f" (between {start} and {end} UTC)" if start and end else ""
    return f"in about {time_left}{reason}, up to {late} later{between}"


def _why(info: SessionInfo) -> str | None:
    """Which limit acts first and how: "The first limit to act is the hub's idle culler:
    it stops sessions where nothing has run for 10 min (...)"."""
    reason = info.cull_reason
    limits = info.limits
    name = LIMIT_NAMES.get(reason or "")
    if name is None:
        return None
    how: str | None = None
    if reason == "idle":
        how = (
            f"it stops sessions where nothing has run for {format_duration(limits.idle_timeout)}"
            f" (it checks every {format_duration(limits.cull_every)} and hears of activity "
            f"every {format_duration(limits.activity_interval)}, hence the interval)"
        )
    elif reason == "server-idle" and limits.server_idle_timeout is not None:
        how = (
            f"the server stops itself after {format_duration(limits.server_idle_timeout)} "
            "with no activity"
        )
        if info.kernels:
            how += " (your idle kernel is stopped first, which counts as activity once)"
    elif reason == "max-age" and limits.max_age is not None:
        how = f"sessions are stopped {format_duration(limits.max_age)} after they start"
    elif reason == "cpu" and limits.cpu_seconds is not None:
        how = (
            f"the session may use {format_duration(limits.cpu_seconds)} of CPU time (the stop "
            "comes that soon only at full use; later if it computes less)"
        )
    return f"The first limit to act is {name}" + (f": {how}" if how else "")


def _kernel_why(info: SessionInfo) -> str:
    timeout = info.limits.kernel_idle_timeout
    idle = f" idle for {format_duration(timeout)}" if timeout else " left idle"
    return f"the kernel culler stops kernels{idle}"


def _memory_warning(info: SessionInfo) -> str:
    """Memory close to the limit: how close, what happens past it, what to do."""
    memory = format_memory(info.memory_used, info.memory_limit)
    share = f", {format_percent(info.memory_fraction)}" if info.memory_fraction is not None else ""
    limit = f"past {format_bytes(info.memory_limit)}" if info.memory_limit else "past it"
    return (
        f"memory is close to the limit ({memory}{share}): {limit} the kernel is killed and "
        f"its variables are lost. {MEMORY_TODO}"
    )


def relaunch_links(info: SessionInfo) -> list[RelaunchLink]:
    """Open this exact commit again, open the latest: only http(s) links (checked again
    here, for a SessionInfo built without validation)."""
    links = []
    if (url := http_link(info.persistent_link)) is not None:
        ref = f"commit {info.ref[:12]}" if info.ref else "the same commit"
        links.append(
            RelaunchLink(
                label="Open this exact commit again",
                url=url,
                hint=f"{ref}, as in this session (a persistent link)",
            )
        )
    if (url := http_link(info.latest_link)) is not None and url != info.persistent_link:
        last = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
        what = "the default branch" if last == "HEAD" else f"{last}"
        links.append(
            RelaunchLink(
                label="Open the latest",
                url=url,
                hint=f"the newest commit of {what}, built again if it changed",
            )
        )
    return links


#: the bars of a terminal's memory line, lowest first
_BARS = "▁▂▃▄▅▆▇█"


def memory_trend(
    samples: Sequence[tuple[float, int]], window: float, limit: int | None, width: int = 30
) -> str | None:
    """Memory over the last minutes on one line, for a terminal: "last 15 min: ▁▂▂▃▅▆
    (300 MiB to 1.1 GiB, limit 2.0 GiB)"; the bars are against the limit when there is one.
    None without samples."""
    values = [used for _, used in samples if used >= 0][-width:]
    if not values:
        return None
    top = max([*values, limit or 0, 1])
    bars = "".join(_BARS[min(len(_BARS) - 1, int(v / top * len(_BARS)))] for v in values)
    low, high = min(values), max(values)
    span = format_bytes(low) if low == high else f"{format_bytes(low)} to {format_bytes(high)}"
    against = f", limit {format_bytes(limit)}" if limit else ""
    return f"last {format_duration(window)}: {bars} ({span}{against})"


def changes_text(count: int, total_bytes: int, names: list[str], *, shown: int = 3) -> str:
    """What a cull would lose, from `binderfed/changes`: "3 files changed since the session
    started (1.2 MiB): a.ipynb, data.csv and 1 more"."""
    if count <= 0:
        return "No file changed since the session started."
    files = "1 file" if count == 1 else f"{count} files"
    head = f"{files} changed since the session started ({format_bytes(total_bytes)})"
    listed = names[:shown]
    if not listed:
        return head + "."
    more = count - len(listed)
    if more > 0:
        return f"{head}: {', '.join(listed)} and {more} more."
    if len(listed) == 1:
        return f"{head}: {listed[0]}."
    return f"{head}: {', '.join(listed[:-1])} and {listed[-1]}."


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
