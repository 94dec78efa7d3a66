"""A build that fails for a known reason says it in plain words: a repository without an
environment file on a hub that builds none without one (mybinder.org since 2026-03), against
the test WireHub replaying what repo2docker and BinderHub send in that case."""

from __future__ import annotations

import asyncio
import io
import json
from typing import TYPE_CHECKING

import pytest
from wirehub import NO_ENVIRONMENT_LINE

from binderfed_sdk import AsyncBinderHub, BinderHub, BuildFailed
from binderfed_sdk.cli._main import main
from binderfed_sdk.hub._core import BuildStreamCore
from binderfed_sdk.hub._failures import ENVIRONMENT_FILES, NO_ENVIRONMENT, explain

if TYPE_CHECKING:
    from wirehub import WireHub

NO_ENV = "gh/someone/no-environment/HEAD"
# one per buildpack of repo2docker that detects a repository by a file (conda, pip, pipenv,
# a Python package, Julia, R, nix, Docker) and runtime.txt, which picks python or R
EXPECTED = {
    "environment.yml",
    "requirements.txt",
    "Pipfile",
    "pyproject.toml",
    "setup.py",
    "Project.toml",
    "DESCRIPTION",
    "runtime.txt",
    "default.nix",
    "Dockerfile",
}


def check_no_environment(error: BuildFailed, hub: str) -> None:
    assert error.hub == hub
    assert error.message == "build failed"  # the hub's `failed` event has no message
    assert error.event is not None
    assert error.event.phase == "failed"
    assert error.event.message == ""
    assert error.log[-1] == NO_ENVIRONMENT_LINE.rstrip("\n")
    assert error.hint is not None
    assert "no environment file" in error.hint
    assert "mybinder.org" in error.hint
    assert set(error.fix_files) >= EXPECTED
    # apt.txt and install.R select no buildpack (repo2docker's detect()): they fix nothing
    assert not {"apt.txt", "install.R", "postBuild"} & set(error.fix_files)
    text = str(error)
    assert text.startswith(f"build failed ({hub}): the repository has no environment file")
    assert "environment.yml (conda), requirements.txt (pip)" in text
    assert "apt.txt, postBuild and install.R alone are not enough" in text
    assert not error.retryable


def test_a_build_without_an_environment_file_says_why(wirehub: WireHub) -> None:
    with BinderHub(wirehub.url) as hub, pytest.raises(BuildFailed) as info:
        list(hub.build(NO_ENV))
    check_no_environment(info.value, hub.url)
    assert wirehub.hits[f"/build/{NO_ENV}"] == 1  # not retried: it would fail again


def test_a_launch_without_an_environment_file_says_why(wirehub: WireHub) -> None:
    with BinderHub(wirehub.url) as hub, pytest.raises(BuildFailed) as info:
        hub.launch(NO_ENV)
    check_no_environment(info.value, hub.url)


def test_the_async_client_says_why_too(wirehub: WireHub) -> None:
    async def scenario() -> BuildFailed:
        async with AsyncBinderHub(wirehub.url) as hub:
            with pytest.raises(BuildFailed) as info:
                await hub.launch(NO_ENV)
            return info.value

    check_no_environment(asyncio.run(scenario()), wirehub.url)


def test_other_failures_keep_the_hubs_own_words(wirehub: WireHub) -> None:
    with BinderHub(wirehub.url) as hub, pytest.raises(BuildFailed) as info:
        list(hub.build("gh/someone/failed-build/HEAD"))
    assert info.value.hint is None
    assert info.value.fix_files == ()
    assert str(info.value) == f"Build failed ({hub.url})"


def test_the_cli_prints_why_and_what_would_fix_it(wirehub: WireHub) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", NO_ENV, "--hub", wirehub.url], out=out, err=err)
    assert code == BuildFailed.exit_code
    text = err.getvalue()
    assert "binderfed: error: build failed" in text
    assert "the repository has no environment file" in text
    assert "environment.yml (conda), requirements.txt (pip)" in text
    assert NO_ENVIRONMENT in text  # the last log lines follow


def test_the_cli_json_report_carries_the_hint(wirehub: WireHub) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", NO_ENV, "--hub", wirehub.url, "--json"], out=out, err=err)
    assert code == BuildFailed.exit_code
    report = json.loads(out.getvalue().splitlines()[-1])
    assert report["error"] == "BuildFailed"
    assert "environment.yml" in report["message"]


# --- the core, without a server --------------------------------------------------------------


def test_the_core_explains_from_the_log_it_kept() -> None:
    core = BuildStreamCore(hub="https://hub.example", build_path=f"build/{NO_ENV}")
    assert core.on_event('{"phase": "fetching", "message": "Picked Git content provider.\\n"}')
    assert core.on_event(json.dumps({"message": NO_ENVIRONMENT_LINE}))
    with pytest.raises(BuildFailed) as info:
        core.on_event('{"phase": "failed"}')
    assert info.value.fix_files == ENVIRONMENT_FILES


@pytest.mark.parametrize(
    ("log", "explained"),
    [
        ([NO_ENVIRONMENT_LINE.rstrip()], True),
        (["Step 1/3 : FROM buildpack-deps", NO_ENVIRONMENT_LINE.rstrip(), "more"], True),
        (["ERROR: Could not find a version that satisfies the requirement x"], False),
        (["No environment"], False),
        ([], False),
    ],
)
def test_explain_only_what_is_certain(log: list[str], explained: bool) -> None:
    assert (explain(log) is not None) is explained
