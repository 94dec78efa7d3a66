"""Text for people: durations and byte sizes (IEC units), the one place they are formatted."""

from __future__ import annotations


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
