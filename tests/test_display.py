"""One formatter, one truth: `binderfed_sdk._format` writes durations, byte sizes and levels;
`SessionInfo.display` carries the words; the CLI, the widget and the JupyterLab status bar
(its TypeScript, run by Node) show the same words for the same reading."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from ts_fixtures import FIXTURE_FILES, FIXTURES, JS, session

from binderfed_sdk._format import (
    format_bytes,
    format_duration,
    format_memory,
    worst_level,
)
from binderfed_sdk.cli._main import summary_of, write_summary
from binderfed_sdk.federation._limits import SessionLimits
from binderfed_sdk.widget import SessionStatus

if TYPE_CHECKING:
    from binderfed_sdk.insession._model import SessionInfo

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
    assert "will stop in about 1 min 40 s before the session age limit." in bar["notification"]


def test_a_window_is_not_read_a_second_short_by_float_noise() -> None:
    """`latest - earliest` of two computed times can be 959.9999 s: a window of 16 min."""
    from binderfed_sdk._format import format_span  # noqa: PLC0415

    assert format_span(960.0 - 1e-9) == "16 min"
    assert format_span(959.4) == "15 min 59 s"
    assert format_span(None) == "?"
