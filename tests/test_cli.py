"""The `binderfed` command: in-process for speed, plus one real subprocess run."""

from __future__ import annotations

import argparse
import fcntl
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from typing import TYPE_CHECKING

import pytest
from servers import free_port
from wirehub import WireHub

from binderfed_sdk import BuildEvent
from binderfed_sdk.cli._main import _parser, main
from binderfed_sdk.cli._progress import MemberTable, ProgressPrinter, print_table, printable
from binderfed_sdk.federation._config import builtin_federations

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_link_formats() -> None:
    code, out, _ = run("link", "https://github.com/binder-examples/requirements")
    assert code == 0
    assert "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD" in out
    assert "[![Binder](https://mybinder.org/badge_logo.svg)]" in out
    assert ".. image:: https://mybinder.org/badge_logo.svg" in out
    code, out, _ = run("link", "gh/u/r/main", "--urlpath", "lab", "--format", "url")
    assert (code, out) == (0, "https://mybinder.org/v2/gh/u/r/main?urlpath=lab\n")
    code, out, _ = run("link", "gh/u/r/main", "--json", "--hub", "https://hub.example.org/")
    data = json.loads(out)
    assert data["url"] == "https://hub.example.org/v2/gh/u/r/main"
    assert set(data["badges"]) == {"markdown", "rst", "html", "myst"}


def test_link_from_a_binder_link_keeps_its_urlpath() -> None:
    link = "https://mybinder.org/v2/gh/u/r/main?urlpath=lab/tree/a.ipynb"
    code, out, _ = run("link", link, "--format", "url")
    assert (code, out) == (0, link + "\n")


def test_bad_spec_is_usage_error_without_traceback() -> None:
    code, out, err = run("link", "gh/u/../main")
    assert code == 2
    assert out == ""
    assert err.startswith("binderfed: error:")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_command_is_usage() -> None:
    code, _, err = run("frobnicate")
    assert code == 2
    assert "invalid choice" in err


def test_build_json_lines(wirehub: WireHub) -> None:
    code, out, _ = run("build", "gh/someone/fixture/HEAD", "--hub", wirehub.url, "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["phase"] == "waiting"
    assert events[-1]["phase"] == "ready"
    assert events[-1]["token"] == "**********"
    assert wirehub.tokens[-1] not in out
    assert all("elapsed" in e for e in events)
    assert any("imageName" in e for e in events)


def test_launch_masks_token_unless_asked(wirehub: WireHub) -> None:
    code, out, err = run("launch", "gh/someone/fixture/HEAD", "--hub", wirehub.url)
    assert code == 0
    assert wirehub.tokens[-1] not in out + err
    assert "token     **********" in out
    assert not [p for m, p, _ in wirehub.requests if m == "POST"]  # left running
    code, out, _ = run("launch", "gh/someone/instant/HEAD", "--hub", wirehub.url, "--show-token")
    assert code == 0
    assert f"token={wirehub.tokens[-1]}" in out
    code, out, _ = run("launch", "gh/someone/fixture/HEAD", "--hub", wirehub.url, "--json")
    summary = json.loads(out.splitlines()[-1])["session"]
    assert summary["token"] == "**********"
    assert wirehub.tokens[-1] not in out


def test_failed_build_exit_code_and_log(wirehub: WireHub) -> None:
    code, _, err = run("build", "gh/someone/failed-build/HEAD", "--hub", wirehub.url)
    assert code == 1
    assert "Build failed" in err
    assert "last log lines" in err
    assert "Traceback" not in err
    code, out, _ = run("launch", "gh/someone/failed-403/HEAD", "--hub", wirehub.url, "--json")
    assert code == 1
    report = json.loads(out.splitlines()[-1])
    assert (report["error"], report["status_code"]) == ("BuildFailed", 403)


def test_unreachable_hub_exit_code() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    code, _, err = run("hub", url)
    assert code == 3
    assert "cannot reach" in err
    code, _, _ = run("build", "gh/u/r/HEAD", "--hub", url)
    assert code == 3


def test_hub_command(wirehub: WireHub) -> None:
    code, out, _ = run("hub", wirehub.url)
    assert code == 0
    assert "healthy   yes" in out
    assert "pods 3/100" in out
    wirehub.health_status = 503
    code, out, _ = run("hub", wirehub.url, "--json")
    assert code == 3
    assert json.loads(out)["health"]["ok"] is False


def test_console_script_runs_as_a_process(wirehub: WireHub) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "binderfed_sdk", "launch", "gh/someone/fixture/HEAD",
         "--hub", wirehub.url, "--shutdown"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[ready" in result.stderr  # one line per event when not on a terminal
    assert wirehub.tokens[-1] not in result.stdout + result.stderr
    shutdowns = [p for m, p, _ in wirehub.requests if m == "POST" and p.endswith("api/shutdown")]
    assert len(shutdowns) == 1  # --shutdown stopped the session it launched


def federation_file(tmp_path: Path, hubs: dict[str, str], prime: str) -> str:
    hosts = {name: {"url": url, "weight": 50, "prime": name == prime} for name, url in hubs.items()}
    path = tmp_path / "federation.json"
    path.write_text(json.dumps({"name": "local", "hosts": hosts}))
    return str(path)


def test_federation_commands(tmp_path: Path) -> None:
    with WireHub(name="a") as a, WireHub(name="b") as b, WireHub(name="c", api_only=True) as c:
        b.health_status = 503
        fed = federation_file(tmp_path, {"a": a.url, "b": b.url, "c": c.url}, "a")
        code, out, _ = run("status", "--federation", fed)
        assert code == 0
        assert "2 of 3 members healthy" in out
        assert "\x1b" not in out  # not a terminal: plain text
        assert [line.rstrip() for line in out.splitlines()] == out.splitlines()
        assert "a (prime)" in out
        assert "NO" in out
        assert "3/100" in out
        code, out, _ = run("status", "--federation", fed, "--json")
        assert json.loads(out)["members"]["b"]["reason"] == "health"
        code, out, _ = run("route", "gh/org/repo/HEAD", "--federation", fed, "--policy", "pinned:c")
        assert code == 0
        assert ": c -> a" in out
        assert "skipped (unhealthy): b" in out
        ranks = [line.split()[:2] for line in out.splitlines()[1:3]]
        assert ranks == [["#", "member"], ["1", "c"]]  # the table, in failover order
        code, out, _ = run("route", "https://github.com/org/repo", "--federation", fed, "--json")
        assert sorted(json.loads(out)["order"]) == ["a", "c"]
        code, out, err = run("prime", "gh/org/instant/HEAD", "--federation", fed)
        assert code == 0, err
        lines = {line.split()[0]: line for line in out.splitlines()}
        assert "ok" in lines["a"]
        assert "by launch" in lines["a"]
        assert "by build-only" in lines["c"]
        assert "skipped" in lines["b"]
        assert lines["member"].split() == [
            "member", "outcome", "time", "how", "where", "the", "time", "went", "reason",
        ]  # fmt: skip
        assert " on a" in lines["a"]  # each member's timeline: "... total 1 s on a"
        assert "total " in lines["c"]
        code, out, _ = run("prime", "gh/org/instant/HEAD", "--federation", fed, "--json")
        primed = {r["member"]: r for r in json.loads(out.splitlines()[-1])["prime"]}
        assert primed["a"]["timeline"]["outcome"] == "ready"
        assert primed["b"]["timeline"] is None  # skipped: no launch, no timeline
        code, out, _ = run(
            "launch", "gh/org/fixture/HEAD", "--federation", fed, "--policy", "pinned:a", "--json"
        )
        assert code == 0
        records = [json.loads(line) for line in out.splitlines()]
        assert {e.get("member") for e in records[:-1]} == {"a"}
        assert records[-1]["session"]["member"] == "a"
        assert records[-1]["session"]["token"] == "**********"


def test_federation_command_errors(tmp_path: Path) -> None:
    code, _, err = run("status", "--federation", str(tmp_path / "missing.json"))
    assert code == 2
    assert "nor a file" in err
    dead = federation_file(tmp_path, {"x": f"http://127.0.0.1:{free_port()}/"}, "x")
    code, out, _ = run("status", "--federation", dead, "--probe-timeout", "1")
    assert code == 3
    assert "unreachable" in out


# -- the terminal UI: rich on a terminal, plain text elsewhere, never a hub's markup or escapes

HOSTILE = "[bold red]boom[/] [link=http://x]y[/link] \x1b]0;pwned\x07\x1b[31mred\u202eevil\x9b2J"
INJECTED = ("\x1b]0;", "\x07", "\x1b[31m", "\u202e", "\x9b")


# what rich reads to decide how to draw; the tests below set them as on a plain terminal
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


@pytest.fixture
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TERMINAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


class Terminal(io.StringIO):
    """What a program sees as a terminal (isatty), recording what is drawn on it."""

    def isatty(self) -> bool:
        return True


def hostile_event(phase: str = "building") -> BuildEvent:
    return BuildEvent.model_validate({"phase": phase, "message": HOSTILE + "\n"})


def test_printable_replaces_what_steers_a_terminal() -> None:
    assert (
        printable(HOSTILE) == "[bold red]boom[/] [link=http://x]y[/link]  ]0;pwned  [31mredevil 2J"
    )
    assert printable("naïve café — 日本 ✓") == "naïve café — 日本 ✓"


@pytest.mark.usefixtures("terminal_env")
def test_hub_text_prints_literally_on_a_terminal() -> None:
    """Markup in a log line is shown as written; escape sequences are never passed on."""
    screen = Terminal()
    printer = ProgressPrinter(screen, as_json=False, member="[i]m[/i]")
    assert printer.live
    printer(hostile_event())
    printer(hostile_event("ready"))
    printer.finish()
    drawn = screen.getvalue()
    assert "[bold red]boom[/] [link=http://x]y[/link]" in drawn
    assert "[i]m[/i]" in drawn
    assert not [seq for seq in INJECTED if seq in drawn]
    assert "\x1b[2K" in drawn  # redrawn in place
    assert drawn.count("\n") == 1  # one line, ended by finish()

    screen = Terminal()
    table = MemberTable(screen, ["a", "[b]"], as_json=False)
    table("a", hostile_event())
    assert "[queued]" in screen.getvalue()
    table.finish({"a": "ok", "[b]": "skipped [health]"})
    drawn = screen.getvalue()
    assert "[bold red]boom[/]" in drawn
    last = drawn.rsplit("\x1b[1A", 1)[1]  # the last drawing: the rows as they stay
    assert "[queued]" not in last
    assert "skipped [health]" in last  # a member that sent no event shows its outcome
    assert "[b]" in drawn
    assert not [seq for seq in INJECTED if seq in drawn]

    screen = Terminal()
    print_table(screen, ("member", "reason"), [("[b]x", HOSTILE)])
    assert "[b]x" in screen.getvalue()
    assert not [seq for seq in INJECTED if seq in screen.getvalue()]


def test_hub_text_prints_literally_when_piped() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, as_json=False)
    printer(hostile_event())
    printer.finish()
    assert "\x1b" not in out.getvalue()
    assert "[bold red]boom[/]" in out.getvalue()
    out = io.StringIO()
    print_table(out, ("member", "reason"), [("a", HOSTILE)])
    assert out.getvalue().splitlines() == [
        "member  reason",
        "a       " + printable(HOSTILE),
    ]


def test_hub_command_prints_what_a_hub_sends_literally() -> None:
    versions = {"binderhub": "[blink]9[/blink]\x1b[2J"}
    with WireHub(versions=versions) as hub:
        hub.health_checks[0]["service"] = "Docker\x1b]8;;http://evil\x07 registry"
        code, out, _ = run("hub", hub.url)
    assert code == 0
    assert "binderhub [blink]9[/blink] [2J" in out
    assert "Docker ]8;;http://evil  registry" in out
    assert "\x1b" not in out
    assert "\x07" not in out


def run_on_terminal(argv: list[str], columns: int = 60) -> tuple[int, str]:
    """Run the command as a process on a pseudo-terminal `columns` wide; what it drew."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns)}
    process = subprocess.Popen(
        [sys.executable, "-m", "binderfed_sdk", *argv],
        stdin=follower, stdout=follower, stderr=follower, env=env,
    )  # fmt: skip
    os.close(follower)
    drawn = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return process.wait(10), drawn.decode()


@pytest.mark.usefixtures("terminal_env")
def test_live_progress_on_a_terminal(wirehub: WireHub) -> None:
    code, drawn = run_on_terminal(["build", "gh/someone/fixture/HEAD", "--hub", wirehub.url])
    assert code == 0, drawn
    assert drawn.count("\r\x1b[2K") >= 10  # one line, redrawn for each event
    last = drawn.rsplit("\r\x1b[2K", 1)[1]
    assert "[ready" in last
    assert "\x1b[1;32m" in last  # `ready` in bold green
    visible = last.replace("\x1b[1;32m", "").replace("\x1b[0m", "").split("\r")[0]
    assert len(visible) == 60  # cut to the terminal's width...
    assert visible.endswith("…")  # ...visibly
    assert drawn.endswith("\x1b[?25h")  # the cursor is shown again
    assert wirehub.tokens[-1] not in drawn


def test_help_describes_every_argument_and_names_every_federation() -> None:
    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    seen = 0
    for parser in parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            seen += 1
            assert action.help, f"{parser.prog} {action.dest} has no help text"
    assert seen > 60
    assert {"mybinder", "sandbox"} <= set(builtin_federations())
    for command in ("launch", "status", "route", "prime"):
        code, out, _ = run(command, "--help")
        assert code == 0
        assert "built-in name (mybinder, sandbox)" in " ".join(out.split())
    code, out, _ = run("sandbox", "--help")
    assert all(word in out for word in ("up", "launch", "demo", "status", "down"))
    assert "$BINDERFED_SANDBOX_DIR" in out


def test_errors_speak_cli_not_python() -> None:
    code, _, err = run("launch", "some-folder")
    assert code == 2
    assert "parse_spec" not in err
    assert "binderfed sandbox launch PATH" in err
