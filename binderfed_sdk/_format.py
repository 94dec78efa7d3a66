"""Text for people: durations, byte sizes and levels. The one place they are turned into words;
the CLI, the widget and (through `SessionInfo.display`) the JupyterLab status bar show what
this module writes.

Durations: rounded *down* to the second, so a countdown never promises time there is not.
Under a minute `45 s`; under an hour `11 min 40 s` (`10 min` on the whole minute: precise
near the cull, which is minutes away); from an hour `3 h 05 min` (minutes rounded down).
The status bar's countdown has a tiny TypeScript twin of `format_duration`, checked against
test vectors made from this one (js/src/__tests__/duration-vectors.json).

Byte sizes: IEC units (KiB, MiB, GiB), as Kubernetes and Binder's docs count memory; GiB
with one decimal, smaller units whole.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

#: how short something runs (time or memory), one vocabulary in Python, JSON and TypeScript
Level = Literal["ok", "warning", "danger"]
LEVELS: tuple[Level, ...] = ("ok", "warning", "danger")

_UNITS = (("GiB", 1 << 30, 1), ("MiB", 1 << 20, 0), ("KiB", 1 << 10, 0), ("B", 1, 0))
#: the culling rule that stops a session first, in words that follow "N min left"
_CULL_REASON = {
    "idle": "if nothing runs",
    "server-idle": "if nothing runs",
    "max-age": "before the session age limit",
    "cpu": "before the CPU-time budget runs out",
}


def worst_level(*levels: Level) -> Level:
    """The most urgent of `levels` ("ok" for none)."""
    return max(levels, key=LEVELS.index, default="ok")


def format_duration(seconds: float | None) -> str:
    """`45 s`, `11 min 40 s`, `10 min`, `3 h 05 min`; rounded down; "?" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, math.floor(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60:02d} min"


def format_span(seconds: float | None) -> str:
    """The length of a window between two computed times (`up to 16 min later`): rounded to
    the nearest second first, so that float noise (959.9999 s) does not read a second short."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return format_duration(round(seconds))


def _unit(value: float) -> tuple[str, int, int]:
    return next(unit for unit in _UNITS if abs(value) >= unit[1] or unit[1] == 1)


def _amount(value: float, unit: tuple[str, int, int]) -> str:
    _, size, decimals = unit
    return f"{value / size:.{decimals}f}"


def format_bytes(value: float | None) -> str:
    """`2.0 GiB`, `812 MiB`, `12 KiB`, `300 B`; "?" when unknown."""
    if value is None:
        return "?"
    unit = _unit(value)
    return f"{_amount(value, unit)} {unit[0]}"


def format_memory(used: float | None, limit: float | None) -> str | None:
    """Memory against the limit: `1.1 / 2.0 GiB`, `256 MiB / 1.0 GiB`; `300 MiB used` without
    a limit, `2.0 GiB limit` without a reading; None with neither."""
    if used is None and not limit:
        return None
    if not limit:
        return f"{format_bytes(used)} used"
    if used is None:
        return f"{format_bytes(limit)} limit"
    used_unit, limit_unit = _unit(used), _unit(limit)
    if used_unit == limit_unit:
        return f"{_amount(used, used_unit)} / {format_bytes(limit)}"
    return f"{format_bytes(used)} / {format_bytes(limit)}"


def format_percent(fraction: float) -> str:
    """`55%`: a fraction as a whole percentage."""
    return f"{fraction:.0%}"


def format_cull_reason(reason: str | None) -> str:
    """Which culling rule stops the session, as words that follow "11 min 40 s left"."""
    return _CULL_REASON.get(reason or "", "")


def format_try_again(reset: datetime, now: datetime | None = None) -> str:
    """When a rate-limited client may build again: `try again in 59 min 58 s (at 14:05)`, in
    local time; the wait is rounded *up* here, so it never says "now" too early."""
    now = now or datetime.now(reset.tzinfo or UTC)
    wait = (reset - now).total_seconds()
    if wait <= 0:
        return "try again now"
    local = reset.astimezone()
    at = local.strftime("%H:%M" if wait < 20 * 3600 else "%Y-%m-%d %H:%M")
    return f"try again in {format_duration(math.ceil(wait))} (at {at})"
