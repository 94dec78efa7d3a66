"""A small SVG chart of memory used over the last minutes, against the limit and the guarantee.

Drawn here, once, for the JupyterLab popup (shown as an image, so nothing in it can run) and
the widget. Only numbers and `_format`'s words go into it, escaped all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from binderfed_sdk._format import format_bytes, format_duration

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["memory_chart_svg"]

WIDTH, HEIGHT = 320, 96  # wide enough for 'guarantee 450 MiB' at the right
#: the plot area inside the picture: room for labels on the right and below
LEFT, TOP, RIGHT, BOTTOM = 4, 8, 212, 80
COLOURS = {"used": "#1976d2", "limit": "#d32f2f", "guarantee": "#757575", "axis": "#bdbdbd"}


def _label(x: float, y: float, text: str, colour: str, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill={quoteattr(colour)} font-size="10" '
        f'font-family="sans-serif" text-anchor={quoteattr(anchor)}>{escape(text)}</text>'
    )


def memory_chart_svg(
    samples: Sequence[tuple[float, int]],
    *,
    now: float,
    window: float,
    limit: int | None,
    guarantee: int | None,
) -> str:
    """Memory used (`samples`: Unix time, bytes) over the `window` seconds before `now`, with
    the limit and the guarantee as lines; a chart that says so when there is no sample yet."""
    start = now - window
    shown = [(t, used) for t, used in samples if start <= t <= now and used >= 0]
    top = max([used for _, used in shown] + [limit or 0, guarantee or 0, 1])
    top = int(top * 1.08)

    def x(t: float) -> float:
        return LEFT + (t - start) / window * (RIGHT - LEFT) if window > 0 else RIGHT

    def y(value: float) -> float:
        return BOTTOM - value / top * (BOTTOM - TOP)

    title = "Memory used over the last " + format_duration(window)
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title)}>'
        ),
        f"<title>{escape(title)}</title>",
        (
            f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" '
            f'stroke="{COLOURS["axis"]}" stroke-width="1"/>'
        ),
    ]
    for name, value in (("limit", limit), ("guarantee", guarantee)):
        if value:
            level = y(value)
            parts.append(
                f'<line class="{name}" x1="{LEFT}" y1="{level:.1f}" x2="{RIGHT}" '
                f'y2="{level:.1f}" stroke="{COLOURS[name]}" stroke-width="1" '
                f'stroke-dasharray="4 3"/>'
            )
            parts.append(
                _label(RIGHT + 4, level + 3, f"{name} {format_bytes(value)}", COLOURS[name])
            )
    if shown:
        points = " ".join(f"{x(t):.1f},{y(used):.1f}" for t, used in shown)
        parts.append(
            f'<polyline class="used" points="{points}" fill="none" '
            f'stroke="{COLOURS["used"]}" stroke-width="1.5"/>'
        )
        last_t, last = shown[-1]
        parts.append(
            f'<circle cx="{x(last_t):.1f}" cy="{y(last):.1f}" r="2" fill="{COLOURS["used"]}"/>'
        )
        parts.append(_label(RIGHT + 4, BOTTOM, f"now {format_bytes(last)}", COLOURS["used"]))
    else:
        parts.append(
            _label((LEFT + RIGHT) / 2, (TOP + BOTTOM) / 2, "no reading yet", COLOURS["guarantee"],
                   "middle")
        )  # fmt: skip
    parts.append(_label(LEFT, HEIGHT - 4, f"-{format_duration(window)}", COLOURS["guarantee"]))
    parts.append(_label(RIGHT, HEIGHT - 4, "now", COLOURS["guarantee"], "end"))
    parts.append("</svg>")
    return "".join(parts)
