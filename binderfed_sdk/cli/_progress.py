"""Live build progress for a terminal: one line, redrawn in place; plain lines elsewhere."""

from __future__ import annotations

import json
import shutil
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from binderfed_sdk.hub._events import BuildEvent

_CONTROL = dict.fromkeys(range(32), " ")


def progress_line(event: BuildEvent, elapsed: float, width: int) -> str:
    """`[phase    12.3s] last log line`, cut to `width` columns, control characters removed."""
    phase = event.phase or "-"
    head = f"[{phase:<9} {elapsed:6.1f}s] "
    text = event.log_line.translate(_CONTROL).strip()
    line = head + text
    if len(line) > width:
        line = line[: max(width - 1, len(head))] + "…"
    return line


def event_json(
    event: BuildEvent, *, elapsed: float, member: str | None = None, show_token: bool = False
) -> str:
    """One event as a JSON line with wire field names; the token masked unless asked for."""
    data: dict[str, Any] = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    if event.token is not None:
        data["token"] = event.token.get_secret_value() if show_token else "**********"
    data["elapsed"] = round(elapsed, 3)
    if member is not None:
        data["member"] = member
    return json.dumps(data, ensure_ascii=False)


class ProgressPrinter:
    """Prints events as they come: a live line on a terminal, one line each otherwise."""

    def __init__(
        self, out: TextIO, *, as_json: bool, show_token: bool = False, member: str | None = None
    ) -> None:
        self.out = out
        self.as_json = as_json
        self.show_token = show_token
        self.member = member
        self.live = not as_json and out.isatty()
        self.started = time.monotonic()
        self._drawn = False

    def __call__(self, event: BuildEvent) -> None:
        elapsed = time.monotonic() - self.started
        if self.as_json:
            self.out.write(
                event_json(event, elapsed=elapsed, member=self.member, show_token=self.show_token)
                + "\n"
            )
        elif self.live:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self.out.write("\r\x1b[2K" + progress_line(event, elapsed, width))
            self._drawn = True
        else:
            self.out.write(progress_line(event, elapsed, 10_000) + "\n")
        self.out.flush()

    def finish(self) -> None:
        """End the live line so what follows starts on a line of its own."""
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False


class MemberTable:
    """Per-member live progress (priming): a table redrawn in place on a terminal, a line
    per phase change elsewhere, one JSON object per event with `--json`."""

    def __init__(self, out: TextIO, members: list[str], *, as_json: bool) -> None:
        self.out = out
        self.members = members
        self.as_json = as_json
        self.live = not as_json and out.isatty()
        self.started = time.monotonic()
        self.rows: dict[str, str] = dict.fromkeys(members, "[queued]")
        self._phases: dict[str, str | None] = {}
        self._drawn = 0
        self._width = max((len(m) for m in members), default=6)

    def __call__(self, member: str, event: BuildEvent) -> None:
        elapsed = time.monotonic() - self.started
        if self.as_json:
            self.out.write(event_json(event, elapsed=elapsed, member=member) + "\n")
            self.out.flush()
            return
        width = shutil.get_terminal_size((100, 20)).columns - self._width - 3
        self.rows[member] = progress_line(event, elapsed, width)
        if self.live:
            self._redraw()
        elif self._phases.get(member, "") != event.phase:
            self._phases[member] = event.phase
            self.out.write(f"{member:<{self._width}}  {self.rows[member]}\n")
            self.out.flush()

    def set_row(self, member: str, text: str) -> None:
        self.rows[member] = text
        if self.live:
            self._redraw()

    def _redraw(self) -> None:
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        lines = [f"\x1b[2K{m:<{self._width}}  {self.rows[m]}" for m in self.members]
        self.out.write(up + "\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)
