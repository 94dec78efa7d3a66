"""`binderfed session`: this Binder session's view in a terminal (inside the session).

The same words as the JupyterLab status bar and the notebook widget (`SessionInfo.display`,
made by `binderfed_sdk.insession._display`): title and member, time left with the limit that
acts first and when (an interval where the timing varies), the warnings with what to do,
memory (with its trend over the last minutes), the changed files a cull would lose and the
links that open the repository again. `--json` prints the answers as the server sends them.

It asks the Jupyter server the terminal (or kernel) runs under: its `binderfed_jupyter`
extension (`binderfed/session`, `binderfed/memory`, `binderfed/changes`); without the
extension it reads the session itself (environment, cgroup, the server's `api/status`).

Exit code 0 inside and outside a session: the command answers the question "where am I, how
long is left" either way, and says which (`in_binder` in `--json`, for a script); outside a
session that is the whole answer, not a failure. Errors follow `binderfed`'s codes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TextIO

from binderfed_sdk.cli._progress import printable

if TYPE_CHECKING:
    import argparse

    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.insession._server import JupyterServerStatus

EXIT_OK = 0
DESCRIPTION = (
    "Inside a Binder session: the member, the time left (which limit acts first, when, and "
    "what to do), memory, the files a cull would lose and the links that open the repository "
    "again; the same words as the JupyterLab status bar and the notebook widget. Outside a "
    "session it says so (exit code 0 either way)."
)


def add_session_parser(commands: Any) -> argparse.ArgumentParser:
    """The `session` subcommand on `commands` (the `binderfed` parser's subparsers)."""
    session = commands.add_parser(
        "session",
        help="this Binder session's time left, warnings and links",
        description=DESCRIPTION,
    )
    session.add_argument("--json", action="store_true", help="print JSON (the server's answers)")
    session.add_argument(
        "--url",
        help="the session's Jupyter server (default: the one this terminal or kernel runs "
        "under, from its runtime file)",
    )
    session.add_argument("--token", help="its token (default: from its runtime file)")
    session.add_argument(
        "--federation",
        help="without the server extension: the federation whose limits apply (a built-in "
        "name or a JSON file; default $BINDERFED_FEDERATION, else mybinder)",
    )
    return session  # type: ignore[no-any-return]


def _server(args: argparse.Namespace) -> JupyterServerStatus:
    from binderfed_sdk.insession._server import JupyterServerStatus

    url = args.url
    if url and not url.endswith("/"):
        url += "/"
    return JupyterServerStatus(url or None, args.token or None, timeout=5.0)


def _reading(server: JupyterServerStatus, federation: str | None) -> tuple[SessionInfo, str]:
    """The extension's answer, else a reading made here (asking the same server's status)."""
    from binderfed_sdk.insession._model import SessionInfo
    from binderfed_sdk.insession._reader import SessionInfoReader

    answer = server.get("binderfed/session")
    if isinstance(answer, dict):
        return SessionInfo.model_validate(answer), "server-extension"
    return SessionInfoReader(federation, status=server).read(), "local"


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def run_session(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:  # noqa: ARG001
    """`binderfed session`: see the module's docstring."""
    server = _server(args)
    info, source = _reading(server, getattr(args, "federation", None))
    memory = _dict_or_none(server.get("binderfed/memory")) if source == "server-extension" else None
    changes = (
        _dict_or_none(server.get("binderfed/changes")) if source == "server-extension" else None
    )
    if args.json:
        if memory is not None:
            memory = {key: value for key, value in memory.items() if key != "svg"}
        report = {
            "in_binder": info.in_binder,
            "source": source,
            "session": info.model_dump(mode="json"),
            "memory": memory,
            "changes": changes,
        }
        out.write(json.dumps(report) + "\n")
        return EXIT_OK
    for line in session_lines(info, memory=memory, changes=changes, base_path=_base(server)):
        out.write(printable(line) + "\n")
    return EXIT_OK


def _base(server: JupyterServerStatus) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(server.url).path or "/") if server.url else "/"


def session_lines(
    info: SessionInfo,
    *,
    memory: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    base_path: str = "/",
) -> list[str]:
    """The terminal's view, line by line: the display strings as they are."""
    from binderfed_sdk.insession._display import (
        DOWNLOAD_WHERE,
        changes_text,
        memory_trend,
    )

    display = info.display
    lines = list(display.details)
    if not info.in_binder:
        return lines
    if memory is not None:
        samples = [
            (float(item[0]), int(item[1]))
            for item in memory.get("samples") or []
            if isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, int | float) for x in item)
        ]
        window = memory.get("window")
        trend = memory_trend(
            samples,
            float(window) if isinstance(window, int | float) else 900.0,
            info.memory_limit,
        )
        if trend:
            lines.append(f"Memory over time: {trend}")
    if changes is not None:
        count, total = changes.get("count"), changes.get("total_bytes")
        files = changes.get("files")
        names = [
            item["path"]
            for item in (files if isinstance(files, list) else [])
            if isinstance(item, dict) and isinstance(item.get("path"), str)
        ]
        lines.append(
            "Changed files: "
            + changes_text(
                count if isinstance(count, int) else len(names),
                total if isinstance(total, int) else 0,
                names,
            )
        )
        message = changes.get("message")
        if changes.get("over_limit") and isinstance(message, str):
            lines.append(f"  {message}")
        path = base_path.rstrip("/") + "/binderfed/download"
        lines.append(f"{display.download_label}: {DOWNLOAD_WHERE.format(path=path)}")
    lines.extend(f"{link.label}: {link.url} — {link.hint}" for link in display.links)
    lines.extend(f"Warning: {warning}" for warning in display.warnings)
    return lines
