"""`binderfed session` (binderfed_sdk/cli/_session.py) against a real Jupyter server with the
`binderfed_jupyter` extension, as a terminal in a Binder session would ask it: the view in the
display strings (the ones the widget and the status bar show), `--json`, outside a session."""

from __future__ import annotations

import argparse
import io
import json
import re
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from servers import SESSION_ENV, JupyterServer, free_port, start_jupyter_server

from binderfed_sdk.cli._session import add_session_parser, run_session
from binderfed_sdk.insession._display import LIMIT_NAMES
from binderfed_sdk.insession._model import SessionInfo

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PERSISTENT = "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c"
LATEST = "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD"


def start_session_server(
    folder: Path, base_url: str = "/", env: dict[str, str] | None = None, **binderfed: Any
) -> tuple[JupyterServer, Path]:
    """A Binder-like server with the extension enabled (its own config file); its home is
    `folder`, where its log is too (written after the start: a changed file). `base_url`:
    as a hub serves it (`/user/<name>/`); the server's `url` is its root all the same."""
    config_dir = folder / "config"
    config_dir.mkdir(parents=True)
    config = {
        "ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}},
        "BinderFedApp": {"status_cache_seconds": 0.0, **binderfed},
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    server = start_jupyter_server(
        folder,
        env={
            **SESSION_ENV,
            # far below what a Jupyter server uses: the memory warning is sure to show
            "MEM_LIMIT": str(32 << 20),
            "JUPYTER_CONFIG_DIR": str(config_dir),
            **(env or {}),
        },
        args=["--ServerApp.log_level=WARN", f"--ServerApp.base_url={base_url}"],
        ready_path=base_url.lstrip("/") + "binderfed/session",
    )
    return server, folder


@pytest.fixture(scope="module")
def session_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[JupyterServer, Path]]:
    # a CPU-time budget of 60.5 s, warned under a minute: a server that used half a second of
    # CPU to start is inside the warning, whatever the machine's speed
    server, home = start_session_server(
        tmp_path_factory.mktemp("session-command"),
        limits={"cpu_seconds": 60.5},
        warn_minutes=[1],
    )
    try:
        (home / "results.csv").write_text("a,b\n1,2\n")
        yield server, home
    finally:
        server.stop()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="binderfed")
    add_session_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["session", *argv])


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_session(parse(*argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_view_inside_a_session(session_server: tuple[JupyterServer, Path]) -> None:
    server, _ = session_server
    code, printed, errors = run("--url", server.url, "--token", server.token)
    assert (code, errors) == (0, "")
    lines = printed.splitlines()
    # the same words as the server's display strings (the widget and status bar show them)
    answer = httpx.get(
        server.url + "binderfed/session", headers={"Authorization": f"token {server.token}"}
    )
    info = SessionInfo.model_validate(answer.json())
    assert lines[0] == info.display.title == "Binder session on hetzner-gesis of mybinder"
    assert "Repository: https://github.com/binder-examples/requirements" in lines
    assert any(line.startswith("Time left: ") for line in lines)
    (changed,) = [line for line in lines if line.startswith("Changed files: ")]
    assert re.fullmatch(
        r"Changed files: 2 files changed since the session started \(\d+ \w?B\): .+\.", changed
    )
    assert "results.csv" in changed
    assert (
        "Download my work: the button in the Binder popup of JupyterLab's status bar, or open "
        "/binderfed/download in this session's browser tab"
    ) in lines
    assert f"Open this exact commit again: {PERSISTENT} — commit 4f1ab2c, as in this session " in (
        printed
    )
    assert f"Open the latest: {LATEST} — the newest commit of the default branch" in printed
    assert any(line.startswith("Memory over time: last 15 min: ") for line in lines)
    # the warnings: which limit acts first, when, what to do
    warnings = [line.removeprefix("Warning: ") for line in lines if line.startswith("Warning: ")]
    assert len(warnings) == 2, printed
    time_warning, memory_warning = warnings
    assert LIMIT_NAMES["cpu"] in time_warning
    # when: the CPU budget's earliest stop; the hub's idle culler bounds the latest
    assert re.search(
        r"stops (in about \d+ s, up to .+ later \(between \d\d:\d\d and \d\d:\d\d UTC\)"
        r"|any moment now, within .+)\. ",
        time_warning,
    ), time_warning
    assert "Download my work" in time_warning
    assert "foreground" not in time_warning  # running nothing does not help against the budget
    assert memory_warning.startswith("memory is close to the limit (")
    assert "past 32 MiB the kernel is killed" in memory_warning
    # the server's words (two readings: only the figures may differ)
    assert [re.sub(r"\d+", "N", w) for w in info.display.warnings] == [
        re.sub(r"\d+", "N", w) for w in warnings
    ]


def test_json(session_server: tuple[JupyterServer, Path]) -> None:
    server, _ = session_server
    code, printed, _ = run("--url", server.url, "--token", server.token, "--json")
    assert code == 0
    report = json.loads(printed)
    assert (report["in_binder"], report["source"]) == (True, "server-extension")
    info = SessionInfo.model_validate(report["session"])
    assert info.latest_link == LATEST
    assert [link.url for link in info.display.links] == [PERSISTENT, LATEST]
    paths = {item["path"] for item in report["changes"]["files"]}
    assert paths == {"results.csv", "jupyter-server.log"}
    assert report["changes"]["count"] == 2
    assert "svg" not in report["memory"]
    assert report["memory"]["samples"]
    assert server.token not in printed


def test_the_token_is_never_printed(session_server: tuple[JupyterServer, Path]) -> None:
    server, _ = session_server
    _, printed, errors = run("--url", server.url, "--token", server.token)
    assert server.token not in printed + errors


def test_outside_a_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No server to ask (a closed port) and no BINDER_* variables: it says so, exit code 0."""
    for name in SESSION_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))  # no server files to find
    started = time.monotonic()
    code, printed, errors = run("--url", f"http://127.0.0.1:{free_port()}/")
    assert time.monotonic() - started < 30
    assert (code, errors) == (0, "")
    assert printed.startswith("Not in a Binder session (no BINDER_* environment variables")
    code, printed, _ = run("--url", f"http://127.0.0.1:{free_port()}/", "--json")
    report = json.loads(printed)
    assert (report["in_binder"], report["source"], report["changes"]) == (False, "local", None)


def test_without_the_extension_it_reads_the_session_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Binder session whose server has no extension: the reading is made here, from the
    environment and the server's own `api/status`; no changed files, no download offered."""
    for name, value in SESSION_ENV.items():
        monkeypatch.setenv(name, value)
    # installed, the extension is enabled for every server (jupyter_server_config.d): off here
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    config = {"ServerApp": {"jpserver_extensions": {"binderfed_jupyter": False}}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    server = start_jupyter_server(
        tmp_path / "plain",
        env={"JUPYTER_CONFIG_DIR": str(config_dir)},
        args=["--ServerApp.log_level=WARN"],
    )
    assert (
        httpx.get(server.url + "binderfed/session", params={"token": server.token}).status_code
        == 404
    )
    try:
        code, printed, _ = run("--url", server.url, "--token", server.token)
    finally:
        server.stop()
    assert code == 0
    assert printed.startswith("Binder session on hetzner-gesis of mybinder")
    assert "Time left: " in printed
    assert "unknown (the Jupyter server's activity record was not read)" not in printed
    assert "Changed files" not in printed
    assert "Download my work:" not in printed
    assert f"Open the latest: {LATEST}" in printed


def test_what_the_server_says_cannot_steer_the_terminal_or_link_elsewhere(
    tmp_path: Path,
) -> None:
    """A member name with terminal escapes, a launch host that is a `javascript:` URL: the
    view prints neither the escapes nor any relaunch link."""
    server, _ = start_session_server(
        tmp_path,
        env={
            "BINDERFED_MEMBER": "evil\x1b]0;owned\x07\x1b[31m",
            "BINDER_LAUNCH_HOST": "javascript:alert(document.cookie)//",
        },
    )
    try:
        code, printed, _ = run("--url", server.url, "--token", server.token)
        _, as_json, _ = run("--url", server.url, "--token", server.token, "--json")
    finally:
        server.stop()
    assert code == 0
    assert "\x1b" not in printed
    assert "\x07" not in printed
    assert printed.startswith("Binder session on evil")
    assert "javascript" not in printed.lower()
    assert "Open this exact commit again" not in printed
    assert "Open the latest" not in printed
    info = SessionInfo.model_validate(json.loads(as_json)["session"])
    assert (info.persistent_link, info.latest_link, info.display.links) == (None, None, [])
