"""The `binderfed` command: in-process for speed, plus one real subprocess run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import TYPE_CHECKING

from servers import free_port
from wirehub import WireHub

from binderfed_sdk.cli._main import main

if TYPE_CHECKING:
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
    assert set(data["badges"]) == {"markdown", "rst", "html"}


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
        assert "a (prime)" in out
        assert "NO" in out
        assert "3/100" in out
        code, out, _ = run("status", "--federation", fed, "--json")
        assert json.loads(out)["members"]["b"]["reason"] == "health"
        code, out, _ = run("route", "gh/org/repo/HEAD", "--federation", fed, "--policy", "pinned:c")
        assert code == 0
        assert ": c -> a" in out
        assert "skipped (unhealthy): b" in out
        code, out, _ = run("route", "https://github.com/org/repo", "--federation", fed, "--json")
        assert sorted(json.loads(out)["order"]) == ["a", "c"]
        code, out, err = run("prime", "gh/org/instant/HEAD", "--federation", fed)
        assert code == 0, err
        lines = {line.split()[0]: line for line in out.splitlines()}
        assert "ok" in lines["a"]
        assert "by launch" in lines["a"]
        assert "by build-only" in lines["c"]
        assert "skipped" in lines["b"]
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
    assert "neither a built-in" in err
    dead = federation_file(tmp_path, {"x": f"http://127.0.0.1:{free_port()}/"}, "x")
    code, out, _ = run("status", "--federation", dead, "--probe-timeout", "1")
    assert code == 3
    assert "unreachable" in out
