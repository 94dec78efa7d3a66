"""What the `binderfed` command draws: the live build line, the member tables.

On a terminal they are drawn with rich: one line (or one row per member) redrawn in place,
tables with styled cells. Anywhere else (a pipe, a file, a CI log) they are plain lines
without escape sequences, one per event, so that scripts can read them.

Whatever a hub sends (log lines, messages, versions, names) is shown as text, never as markup
or terminal control: its control characters are replaced (`printable`) and it goes into rich
`Text` objects, which rich's markup parser never reads. A log line with `[bold]` or an escape
sequence prints as it is, harmlessly.
"""

from __future__ import annotations

import io
import json
import time
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk._redact import redact

if TYPE_CHECKING:
    from collections.abc import Container, Iterable, Mapping, Sequence

    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from binderfed_sdk.hub._events import BuildEvent

# C0 controls (ESC, CR, BEL, backspace...), DEL, C1 controls (CSI 0x9b and OSC 0x9d act like
# ESC [ and ESC ] on some terminals) and the bidi overrides that can reorder what a line shows
_UNPRINTABLE: dict[int, str] = {
    **dict.fromkeys(range(0x20), " "),
    0x7F: " ",
    **dict.fromkeys(range(0x80, 0xA0), " "),
    **dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A)), ""),
}
_PLAIN_WIDTH = 10_000  # piped output is never cut or wrapped


def printable(text: str) -> str:
    """`text` with every character that could steer a terminal replaced: safe to print."""
    return text.translate(_UNPRINTABLE)


def progress_line(event: BuildEvent, elapsed: float, width: int) -> str:
    """`[phase    12.3s] last log line`, cut to `width` columns, control characters removed."""
    phase = printable(event.phase or "-")
    head = f"[{phase:<9} {elapsed:6.1f}s] "
    line = head + printable(redact(event.log_line)).strip()  # a `ready` names its URL
    if len(line) > width:
        line = line[: max(width - 1, len(head))] + "…"
    return line


def event_json(
    event: BuildEvent, *, elapsed: float, member: str | None = None, show_token: bool = False
) -> str:
    """One event as a JSON line with wire field names; the token masked unless asked for."""
    data: dict[str, Any] = event.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not show_token:  # a `ready` URL (and its message) may carry a `?token=` or a password
        data = {k: redact(v) if isinstance(v, str) else v for k, v in data.items()}
    if event.token is not None:
        data["token"] = event.token.get_secret_value() if show_token else "**********"
    data["elapsed"] = round(elapsed, 3)
    if member is not None:
        data["member"] = member
    return json.dumps(data, ensure_ascii=False)


def terminal_console(out: TextIO) -> Console:
    """A rich console drawing on `out`, a terminal. It never replaces sys.stdout or stderr."""
    from rich.console import Console

    return Console(file=out, highlight=False, emoji=False, markup=False)


def cell(text: str, style: str = "") -> Text:
    """A table cell or a line showing `text` literally (never as markup), made printable."""
    from rich.text import Text

    return Text(printable(text), style=style, no_wrap=True, overflow="ellipsis")


def _phase_style(phase: str | None) -> str:
    if phase in {"failed", "failure", "error"}:
        return "bold red"
    return "bold green" if phase == "ready" else "cyan"


def live_line(event: BuildEvent, elapsed: float, member: str | None = None) -> Text:
    """The live line on a terminal: the member, the phase and time styled, the log line as
    plain text; rich cuts it to the terminal's width."""
    from rich.text import Text

    line = Text(no_wrap=True, overflow="ellipsis", end="")
    if member:
        line.append(printable(member) + " ", style="bold")
    line.append(f"[{printable(event.phase or '-'):<9} {elapsed:6.1f}s] ", _phase_style(event.phase))
    line.append(printable(redact(event.log_line)).strip())
    return line


def print_table(
    out: TextIO,
    header: Sequence[str],
    rows: Iterable[Sequence[Text | str]],
    *,
    right: Container[str] = (),
    indent: int = 0,
) -> None:
    """Aligned columns (those named in `right` aligned right): drawn by rich with styles on a
    terminal; plain lines elsewhere (no escape sequences, no trailing spaces, never cut).
    Strings are shown literally."""
    from rich.padding import Padding
    from rich.table import Table

    terminal = out.isatty()
    cells = [[cell(c) if isinstance(c, str) else c for c in row] for row in rows]
    table = Table(
        box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold" if terminal else ""
    )
    for i, name in enumerate(header):
        # on a narrow terminal only the last column (free text: a reason, a URL) is cut
        last = i == len(header) - 1
        widest = max([len(name), *(row[i].cell_len for row in cells)])
        table.add_column(
            name,
            justify="right" if name in right else "left",
            no_wrap=True,
            overflow="ellipsis" if terminal else "ignore",
            min_width=None if last else widest,
        )
    for row in cells:
        table.add_row(*row)
    renderable = Padding(table, (0, 0, 0, indent))
    if terminal:
        terminal_console(out).print(renderable)
        return
    from rich.console import Console

    buffer = io.StringIO()
    plain = Console(
        file=buffer,
        width=_PLAIN_WIDTH,
        color_system=None,
        force_terminal=False,  # even with $FORCE_COLOR: this goes to a pipe or a file
        highlight=False,
        markup=False,
    )
    plain.print(renderable)
    out.writelines(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
    out.flush()


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
        self._live: Live | None = None

    def __call__(self, event: BuildEvent) -> None:
        elapsed = time.monotonic() - self.started
        if self.as_json:
            self.out.write(
                event_json(event, elapsed=elapsed, member=self.member, show_token=self.show_token)
                + "\n"
            )
        elif self.live:
            line = live_line(event, elapsed, self.member)
            if self._live is None:
                self._live = _start_live(self.out, line)
            self._live.update(line, refresh=True)
        else:
            self.out.write(progress_line(event, elapsed, _PLAIN_WIDTH) + "\n")
        self.out.flush()

    def finish(self) -> None:
        """Leave the last live line in place, so what follows starts on a line of its own."""
        if self._live is not None:
            self._live.stop()
            self._live = None


class MemberTable:
    """Per-member live progress (priming): a table redrawn in place on a terminal, a line
    per phase change elsewhere, one JSON object per event with `--json`."""

    def __init__(self, out: TextIO, members: list[str], *, as_json: bool) -> None:
        self.out = out
        self.members = members
        self.as_json = as_json
        self.live = not as_json and out.isatty()
        self.started = time.monotonic()
        self._rows: dict[str, Text | None] = dict.fromkeys(members)
        self._phases: dict[str, str | None] = {}
        self._width = max((len(m) for m in members), default=6)
        self._live: Live | None = None

    def __call__(self, member: str, event: BuildEvent) -> None:
        elapsed = time.monotonic() - self.started
        if self.as_json:
            self.out.write(event_json(event, elapsed=elapsed, member=member) + "\n")
            self.out.flush()
        elif self.live:
            self._rows[member] = live_line(event, elapsed)
            table = self._table()
            if self._live is None:
                self._live = _start_live(self.out, table)
            self._live.update(table, refresh=True)
        elif self._phases.get(member, "") != event.phase:
            self._phases[member] = event.phase
            line = progress_line(event, elapsed, _PLAIN_WIDTH)
            self.out.write(f"{printable(member):<{self._width}}  {line}\n")
            self.out.flush()

    def finish(self, outcomes: Mapping[str, str] | None = None) -> None:
        """Leave the table in place, members that sent no event showing their `outcomes`
        (skipped, say) instead of `[queued]`."""
        if self._live is not None:
            for name, outcome in (outcomes or {}).items():
                if self._rows.get(name, False) is None:
                    self._rows[name] = cell(outcome, "yellow")
            self._live.update(self._table(), refresh=True)
            self._live.stop()
            self._live = None

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_header=False)
        table.add_column(no_wrap=True, style="bold", min_width=self._width)
        table.add_column(no_wrap=True, overflow="ellipsis")
        for name, row in self._rows.items():
            table.add_row(cell(name), row if row is not None else cell("[queued]", "dim"))
        return table


def _start_live(out: TextIO, first: Any) -> Live:
    """A live display redrawn only when told (no refresh thread), leaving the process's
    stdout and stderr alone."""
    from rich.live import Live

    live = Live(
        first,
        console=terminal_console(out),
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    live.start()
    return live
