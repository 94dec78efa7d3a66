"""One formatter, one truth: `binderfed_sdk._format` writes durations, byte sizes and levels;
`SessionInfo.display` carries the words; the CLI, the widget and the JupyterLab status bar
(its TypeScript, run by Node) show the same words for the same reading."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest
from ts_fixtures import FIXTURE_FILES, FIXTURES, JS, session

from binderfed_sdk._format import (
    format_bytes,
    format_duration,
    format_memory,
    worst_level,
)
from binderfed_sdk.cli._main import summary_of, write_summary
from binderfed_sdk.cli._session import session_lines
from binderfed_sdk.federation._limits import SessionLimits
from binderfed_sdk.insession._display import changes_text, memory_trend, relaunch_links
from binderfed_sdk.insession._member import latest_link
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader
from binderfed_sdk.insession._rules import StopWindow
from binderfed_sdk.widget import SessionStatus

GIB, MIB = 1 << 30, 1 << 20


def test_duration_rule() -> None:
    # the 700 s: one text everywhere, precise near the cull, rounded down
    assert format_duration(700) == "11 min 40 s"
    assert format_duration(699.9) == "11 min 39 s"
    assert format_duration(600) == "10 min"
    assert format_duration(59.9) == "59 s"
    assert format_duration(-3) == "0 s"
    assert format_duration(3 * 3600 + 5 * 60 + 59) == "3 h 05 min"
    assert format_duration(None) == format_duration(float("nan")) == "?"


def test_bytes_in_iec_units() -> None:
    assert format_bytes(int(1.1 * GIB)) == "1.1 GiB"
    assert format_bytes(16 * GIB) == "16.0 GiB"
    assert format_bytes(512 * MIB) == "512 MiB"
    assert format_bytes(12 * 1024) == "12 KiB"
    assert format_bytes(300) == "300 B"
    assert format_memory(int(1.1 * GIB), 2 * GIB) == "1.1 / 2.0 GiB"
    assert format_memory(256 * MIB, GIB) == "256 MiB / 1.0 GiB"
    assert format_memory(350 * MIB, 512 * MIB) == "350 / 512 MiB"
    assert format_memory(300 * MIB, None) == "300 MiB used"
    assert format_memory(None, 2 * GIB) == "2.0 GiB limit"
    assert format_memory(None, None) is None


def test_levels_one_vocabulary() -> None:
    assert worst_level() == "ok"
    assert worst_level("ok", "warning") == "warning"
    assert worst_level("danger", "warning", "ok") == "danger"


@pytest.mark.parametrize("name", sorted(FIXTURE_FILES))
def test_typescript_fixtures_are_current(name: str) -> None:
    """jest checks the TypeScript against these: made from the Python, never by hand."""
    checked_in = json.loads((FIXTURES / name).read_text())
    assert checked_in == FIXTURE_FILES[name](), (
        f"js/src/__tests__/{name} is stale: run `python tests/ts_fixtures.py`"
    )


# --- the three front ends ------------------------------------------------------------------

_STATUS_BAR = """
const fs = require('fs');
const path = require('path');
const ts = require(path.join(process.argv[1], 'node_modules', 'typescript'));
const source = fs.readFileSync(path.join(process.argv[1], 'src', 'session.ts'), 'utf8');
const { outputText } = ts.transpileModule(source, {
  compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2018 }
});
const module_ = { exports: {} };
new Function('module', 'exports', outputText)(module_, module_.exports);
const session = module_.exports;
const answer = JSON.parse(fs.readFileSync(0, 'utf8'));
const views = answer.at.map(seconds =>
  session.statusView(session.parseSessionInfo(answer.info), seconds)
);
process.stdout.write(JSON.stringify(views));
"""


def status_bar(info: SessionInfo, *seconds_left: float | None) -> list[dict[str, Any]]:
    """What the status item shows (js/src/session.ts's `statusView`, run by Node on the
    server extension's JSON) at each of `seconds_left` (None: as answered)."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the status bar (it builds the JupyterLab extension)"
    answer = {"info": info.model_dump(mode="json"), "at": list(seconds_left)}
    done = subprocess.run(
        [node, "-e", _STATUS_BAR, str(JS)],
        input=json.dumps(answer),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    views: list[dict[str, Any]] = json.loads(done.stdout)
    return views


def cli(info: SessionInfo) -> str:
    out = io.StringIO()
    write_summary(summary_of(info, url="http://127.0.0.1:1/", browser_url="http://x/"), out)
    return out.getvalue()


def widget_text(info: SessionInfo) -> tuple[str, SessionStatus]:
    widget = SessionStatus(lambda: info, auto_refresh=False)
    parts = [widget.header, widget.time_text, widget.memory_text, widget.note]
    return "\n".join(part.value for part in parts), widget


def test_cli_widget_and_status_bar_say_the_same() -> None:
    info = session(
        seconds_left=700.0,
        seconds_left_latest=1300.0,
        idle_seconds_left=700.0,
        cull_reason="idle",
        memory_used=int(1.1 * GIB),
        now=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
    )
    words = ["gesis", "11 min 40 s if nothing runs", "1.1 / 2.0 GiB"]
    bar, ticked = status_bar(info, None, 100.0)

    printed = cli(info)
    shown, widget = widget_text(info)
    try:
        for word in words:
            assert word in printed, printed
            assert word in shown, shown
            assert word in bar["text"].replace(" left ", " "), bar
        assert "GB" not in printed + shown + bar["text"]  # IEC units only
        assert "(stops from 10:11 UTC, up to 10 min later)" in printed
        assert "(stops from 10:11 UTC, up to 10 min later)" in shown
        assert f"Time left: {info.display.time}" in bar["details"]
        assert bar["text"] == info.display.summary
        # one vocabulary of levels: the JSON's, the widget's bar style, the status bar's
        assert bar["level"] == info.level == "ok"
        assert widget.time_bar.bar_style == ""
    finally:
        widget.close()

    # between two polls the status bar counts down, in the same words and levels
    assert ticked["text"] == "gesis · 1 min 40 s left if nothing runs · 1.1 / 2.0 GiB"
    assert ticked["level"] == "danger"
    later = info.model_copy(update={"seconds_left": 100.0, "idle_seconds_left": 100.0})
    assert ticked["text"] == later.display.summary
    assert ticked["level"] == later.level


def test_warnings_are_the_same_words() -> None:
    info = session(
        seconds_left=100.0,
        memory_used=int(1.95 * GIB),
        limits=SessionLimits(idle_timeout=3600, max_age=21_600, cpu_seconds=None),
    )
    assert (info.time_level, info.memory_level, info.level) == ("danger", "danger", "danger")
    assert len(info.display.warnings) == 2
    printed = cli(info)
    shown, widget = widget_text(info)
    try:
        for warning in info.display.warnings:
            assert warning in printed
            assert warning in shown
        assert widget.time_bar.bar_style == widget.memory_bar.bar_style == "danger"
    finally:
        widget.close()
    (bar,) = status_bar(info, None)
    assert bar["level"] == "danger"
    assert bar["notification"] == info.display.notification
    # the toast's first 140 characters: when, which limit, what to do
    head = (
        "Binder stops this session in about 1 min 40 s (the session age limit): download your work."
    )
    assert bar["notification"].startswith(head)
    assert len(head) <= 140
    assert (
        "This Binder session on gesis will stop in about 1 min 40 s, up to 51 min 20 s later "
        "(between 10:32 and 11:24 UTC). The first limit to act is the session age limit"
    ) in bar["notification"]
    # the terminal's `binderfed session` prints the same warnings
    lines = session_lines(info)
    for warning in info.display.warnings:
        assert f"Warning: {warning}" in lines


def test_a_window_is_not_read_a_second_short_by_float_noise() -> None:
    """`latest - earliest` of two computed times can be 959.9999 s: a window of 16 min."""
    from binderfed_sdk._format import format_span  # noqa: PLC0415

    assert format_span(960.0 - 1e-9) == "16 min"
    assert format_span(959.4) == "15 min 59 s"
    assert format_span(None) == "?"


# --- warnings that name the cause, say when, and what to do ----------------------------------

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
#: mybinder.org's numbers, a server that stops itself after 10 min, a CPU budget of 2 h
LIMITS = SessionLimits(idle_timeout=600, server_idle_timeout=600, max_age=21_600, cpu_seconds=7200)
#: cause -> (the limit named, what the warning must tell to do, what it must not)
CAUSES = {
    "idle": ("the hub's idle culler", "keep this tab open and in the foreground", None),
    "server-idle": (
        "the Jupyter server's own idle shutdown",
        "keep this tab open and in the foreground",
        None,
    ),
    "max-age": (
        "the session age limit",
        "Nothing keeps a session past its age limit",
        "foreground",
    ),
    "cpu": ("the CPU-time budget", "Heavy computation brings the stop closer", "foreground"),
}


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_a_time_warning_names_the_cause_when_and_what_to_do(cause: str) -> None:
    name, todo, never = CAUSES[cause]
    info = session(
        now=NOW,
        limits=LIMITS,
        seconds_left=100.0,
        seconds_left_latest=1060.0,
        cull_reason=cause,
    )
    assert info.time_level == "danger"
    warning = info.display.warnings[0]
    # which limit comes first, in words
    assert f"The first limit to act is {name}" in warning
    assert info.display.first_limit == name
    # when: an interval, as durations and clock times
    assert "in about 1 min 40 s" in warning
    assert "up to 16 min later (between 10:01 and 10:17 UTC)" in warning
    # only idle stops depend on what runs
    assert ("if nothing runs" in warning) == (cause in ("idle", "server-idle"))
    # what to do: save, download (the button's own label), and what helps against this cause
    assert "Save your work and download it (Download my work)" in warning
    assert info.display.download_label == "Download my work"
    assert todo in warning
    if never:
        assert never not in warning
    # the notification says the same, with the link that opens this commit again
    notification = info.display.notification
    assert notification is not None
    assert f"The first limit to act is {name}" in notification
    assert "up to 16 min later (between 10:01 and 10:17 UTC)" in notification
    assert "save your work and download it (Download my work)" in notification
    assert notification.endswith(f"Open this exact commit again: {info.persistent_link}")
    # the status bar counts down with the live twin: the same words at the reading
    live = info.display.live.warning
    assert live is not None
    assert live.replace("{time_left}", "1 min 40 s") == warning


def test_the_idle_warning_explains_the_foreground_tab() -> None:
    info = session(
        now=NOW, limits=LIMITS, seconds_left=100.0, seconds_left_latest=1060.0, cull_reason="idle"
    )
    warning = info.display.warnings[0]
    assert (
        "To keep the session, run something, or keep this tab open and in the foreground: "
        "browsers slow down background tabs, and JupyterLab then stops reporting your activity."
    ) in warning
    assert "it stops sessions where nothing has run for 10 min" in warning


def test_a_warning_without_a_later_bound_or_with_no_time_left() -> None:
    # the CPU budget alone: no later bound (an idle session uses no CPU)
    cpu = session(
        now=NOW, limits=LIMITS, seconds_left=90.0, seconds_left_latest=None, cull_reason="cpu"
    )
    assert "in about 1 min 30 s at the earliest (from 10:01 UTC)" in cpu.display.warnings[0]
    # past the earliest stop: any moment, within the window that is left
    late = session(
        now=NOW, limits=LIMITS, seconds_left=0.0, seconds_left_latest=300.0, cull_reason="idle"
    )
    assert (
        "This session stops any moment now if nothing runs, within 5 min."
        in (late.display.warnings[0])
    )
    # a fixed time (the window is closed): one clock time
    fixed = session(
        now=NOW, limits=LIMITS, seconds_left=90.0, seconds_left_latest=90.0, cull_reason="max-age"
    )
    assert "in about 1 min 30 s (at 10:01 UTC)" in fixed.display.warnings[0]


def test_no_time_warning_while_time_is_plenty() -> None:
    info = session(now=NOW)  # 42 min before the age limit, memory at 30 %
    assert info.level == "ok"
    assert info.display.warnings == []
    # the live twin is there all the same, for a countdown crossing a threshold
    assert info.display.live.warning is not None
    assert "{time_left}" in info.display.live.warning


def test_the_kernel_warning_names_the_kernel_culler() -> None:
    info = session(
        now=NOW,
        limits=SessionLimits(max_age=21_600, cpu_seconds=None),
        seconds_left=690.0,
        seconds_left_latest=810.0,
        server_idle_seconds_left=690.0,
        cull_reason="server-idle",
        kernels=1,
        kernel_stop=StopWindow(reason="kernel", earliest=90.0, latest=150.0),
    )
    (warning,) = info.display.warnings
    assert warning == (
        "your kernel stops in about 1 min 30 s if it stays idle, up to 1 min later (the "
        "session goes on; the kernel's variables are lost): the kernel culler stops kernels "
        "idle for 10 min. Run a cell to keep it, or save what it holds (write results to files)."
    )


def test_the_memory_warning_names_the_limit_and_what_to_do() -> None:
    info = session(memory_used=int(1.7 * GIB))
    (warning,) = info.display.warnings
    assert warning == (
        "memory is close to the limit (1.7 / 2.0 GiB, 85%): past 2.0 GiB the kernel is killed "
        "and its variables are lost. Save your work and download it (Download my work); free "
        "memory (delete large variables) or restart the kernel."
    )


# --- relaunch links -------------------------------------------------------------------------


def test_relaunch_links() -> None:
    info = session()
    assert [(link.label, link.url) for link in info.display.links] == [
        ("Open this exact commit again", info.persistent_link),
        ("Open the latest", "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD"),
    ]
    assert info.display.links[0].hint == "commit abc123, as in this session (a persistent link)"
    assert info.display.links[1].hint.startswith("the newest commit of the default branch")
    branch = session(latest_link="https://mybinder.org/v2/gh/binder-examples/requirements/main")
    assert branch.display.links[1].hint.startswith("the newest commit of main")
    # no persistent link, no latest: nothing offered
    assert session(persistent_link=None, latest_link=None).display.links == []


@pytest.mark.parametrize(
    "link", ["javascript:alert(document.cookie)//", "JavaScript:alert(1)", "data:text/html,x"]
)
def test_only_http_relaunch_links(link: str) -> None:
    info = session(latest_link=link)
    assert info.latest_link is None
    assert "latest_link: not an http(s) URL, not shown" in info.notes
    assert [item.label for item in info.display.links] == ["Open this exact commit again"]
    # a SessionInfo built without validation: the display checks again
    raw = SessionInfo.model_construct(
        **{**dict(session()), "persistent_link": link, "latest_link": link}
    )
    assert relaunch_links(raw) == []


@pytest.mark.parametrize(
    ("request_", "persistent", "latest"),
    [
        # launched on a branch: the branch again (it moves on)
        (
            "v2/gh/org/repo/main",
            "v2/gh/org/repo/abc123",
            "https://mybinder.org/v2/gh/org/repo/main",
        ),
        # launched at an exact commit: the default branch
        (
            "v2/gh/org/repo/abc123",
            "v2/gh/org/repo/abc123",
            "https://mybinder.org/v2/gh/org/repo/HEAD",
        ),
        (
            "v2/gl/group/repo/abc",
            "v2/gl/group/repo/abc",
            "https://mybinder.org/v2/gl/group/repo/HEAD",
        ),
        # launched at HEAD, resolved to a commit: HEAD again
        (
            "v2/gh/org/repo/HEAD",
            "v2/gh/org/repo/abc123",
            "https://mybinder.org/v2/gh/org/repo/HEAD",
        ),
        # a DOI has no newer version to open
        ("v2/zenodo/10.5281/zenodo.3242074", "v2/zenodo/10.5281/zenodo.3242074", None),
        (None, "v2/gh/org/repo/abc123", None),
    ],
)
def test_the_latest_link(request_: str | None, persistent: str, latest: str | None) -> None:
    assert latest_link("https://mybinder.org/", request_, persistent) == latest


def test_the_reader_makes_both_links() -> None:
    environ = {
        "BINDER_LAUNCH_HOST": "https://mybinder.org/",
        "BINDER_REQUEST": "v2/gh/binder-examples/requirements/main",
        "BINDER_PERSISTENT_REQUEST": "v2/gh/binder-examples/requirements/4f1ab2c",
    }
    info = SessionInfoReader(environ=environ, cgroup_root=None, status={}).read(now=NOW)
    assert [link.url for link in info.display.links] == [
        "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c",
        "https://mybinder.org/v2/gh/binder-examples/requirements/main",
    ]


# --- what a cull would lose, memory over time -----------------------------------------------


def test_changes_text() -> None:
    assert changes_text(0, 0, []) == "No file changed since the session started."
    assert changes_text(1, 300, ["a.ipynb"]) == (
        "1 file changed since the session started (300 B): a.ipynb."
    )
    assert changes_text(2, 3 * MIB, ["a.ipynb", "b.csv"]) == (
        "2 files changed since the session started (3 MiB): a.ipynb and b.csv."
    )
    assert changes_text(5, GIB, ["a", "b", "c", "d", "e"]) == (
        "5 files changed since the session started (1.0 GiB): a, b, c and 2 more."
    )


def test_memory_trend() -> None:
    samples = [(float(t), used) for t, used in enumerate([0, 512 * MIB, GIB, 2 * GIB])]
    assert memory_trend(samples, 900, 2 * GIB) == (
        "last 15 min: ▁▃▅█ (0 B to 2.0 GiB, limit 2.0 GiB)"
    )
    assert memory_trend([(0.0, 300 * MIB)], 900, None) == "last 15 min: █ (300 MiB)"
    assert memory_trend([], 900, None) is None
