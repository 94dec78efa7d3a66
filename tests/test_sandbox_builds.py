"""The sandbox builds a repository as Binder reads it, fast and safely (issue 11).

Pure parts first (environment.yml, runtime.txt, conda specs, the base-environment check,
bounded build steps with real processes), then one real sandbox for the module (a real
JupyterHub, configurable-http-proxy and culler, our build service and redirector), whose
last test stops its hub.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sqlite3
import stat
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
import psutil
import pytest
from servers import running_sandbox, sandbox_hub_api

from binderfed_sdk import BinderHub, BuildEvent, BuildFailed, Session
from binderfed_sdk.sandbox import _detect, manager
from binderfed_sdk.sandbox._recipe import (
    NO_ENVIRONMENT,
    UNSUPPORTED_FILES,
    CondaEnvironment,
    RecipeError,
    conda_to_pip,
    parse_environment,
    parse_runtime,
    satisfied_by,
)
from binderfed_sdk.sandbox._steps import BuildError, run_pipe, run_step
from binderfed_sdk.sandbox.builder import BuilderConfig, BuildService
from binderfed_sdk.spec._spec import Spec

if TYPE_CHECKING:
    from collections.abc import Iterator

# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("numpy", "numpy"),
        ("numpy=1.26", "numpy==1.26.*"),
        ("numpy=1.26.*", "numpy==1.26.*"),
        ("numpy 1.26", "numpy==1.26.*"),
        ("numpy==1.26.4", "numpy==1.26.4"),
        ("numpy>=1.2,<2", "numpy>=1.2,<2"),
        ("numpy >= 1.2", "numpy>=1.2"),
        ("conda-forge::scipy=1.11", "scipy==1.11.*"),
        ("numpy=1.26=py311_0", None),  # a build string: conda only
        ("numpy 1.26 py311_0", None),
        ("numpy 1.2|1.3", None),
        ("_libgcc_mutex", None),
    ],
)
def test_conda_specs_as_pypi_requirements(entry: str, expected: str | None) -> None:
    assert conda_to_pip(entry) == expected


def test_environment_yml_read_as_binder_does() -> None:
    text = """
name: example
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
  - numpy=1.26
  - conda-forge::r-base
  - pip:
    - requests==2.*
    - -e .
"""
    assert parse_environment(text) == CondaEnvironment(
        python="3.11", pip=("requests==2.*", "-e ."), conda=("numpy=1.26", "conda-forge::r-base")
    )
    assert parse_environment("") == CondaEnvironment()
    assert parse_environment("dependencies:\n  - python==3.12.1\n").python == "3.12"
    for bad in ("[1, 2]", "dependencies: 3", "dependencies:\n  - {conda: x}\n", "a: [b"):
        with pytest.raises(RecipeError):
            parse_environment(bad)


def test_runtime_txt_read_as_repo2docker_does() -> None:
    assert parse_runtime("python-3.11\n").python == "3.11"
    assert parse_runtime("python-3.12.1").python == "3.12"
    assert parse_runtime("python-3.10-2023-01-01").python == "3.10"
    assert parse_runtime("python-3.10-2023-01-01").date == "2023-01-01"
    assert parse_runtime("python-2023-01-01").python is None  # name-YYYY-MM-DD: no version
    assert parse_runtime("r-4.3-2024-01-01").python is None
    assert parse_runtime("r-4.3-2024-01-01").name == "r"
    for bad in ("python", "python-", "python-3.11-2023-1-1x", "a-b-c"):
        with pytest.raises(RecipeError, match=r"Invalid runtime\.txt"):
            parse_runtime(bad)


def test_requirements_the_base_environment_satisfies() -> None:
    installed = {"httpx": "0.28.1", "pyyaml": "6.0.2", "rich": "13.0.0"}
    assert satisfied_by("httpx", installed) == "httpx 0.28.1"
    assert satisfied_by("PyYAML>=6  # comment", installed) == "PyYAML 6.0.2"
    assert satisfied_by("rich>=14", installed) is None  # too old here: uv installs it
    assert satisfied_by("httpx[http2]", installed) is None  # extras may need more
    assert satisfied_by("requests", installed) is None
    assert satisfied_by("-e .", installed) is None
    assert satisfied_by("httpx @ https://example.org/h.whl", installed) is None
    assert satisfied_by("httpx; python_version < '3'", installed) is None


def test_detection_names_the_same_unsupported_files() -> None:
    assert set(_detect.UNSUPPORTED) == set(UNSUPPORTED_FILES)


# --- bounded steps: real processes ----------------------------------------------------------


def _pids_in(folder: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(folder.glob("*.pid")) if p.read_text().strip()]


def _gone(pids: list[int], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [pid for pid in pids if manager.pid_alive(pid)]:
            return True
        time.sleep(0.05)
    return False


def _stubborn_script(folder: Path) -> list[str]:
    """A step that starts a background process, ignores SIGTERM and never ends."""
    script = folder / "step.sh"
    script.write_text(
        "trap '' TERM\n"
        f"sleep 600 & echo $! > {folder}/background.pid\n"
        f"echo $$ > {folder}/step.pid\n"
        "echo started\n"
        "sleep 600\n"
    )
    return ["bash", str(script)]


def test_a_step_past_its_deadline_is_killed_with_its_group(tmp_path: Path) -> None:
    lines: list[str] = []

    async def line(text: str) -> None:
        lines.append(text)

    started = time.monotonic()
    with pytest.raises(BuildError, match=r"postBuild did not finish within 2 s"):
        asyncio.run(
            run_step(_stubborn_script(tmp_path), what="postBuild", timeout=2.0, on_line=line)
        )
    assert time.monotonic() - started < 5
    assert lines == ["started"]
    pids = _pids_in(tmp_path)
    assert len(pids) == 2
    assert _gone(pids), "a process of the step outlived its deadline"


def test_a_cancelled_step_is_killed_with_its_group(tmp_path: Path) -> None:
    async def scenario() -> None:
        task = asyncio.ensure_future(
            run_step(_stubborn_script(tmp_path), what="postBuild", timeout=600)
        )
        deadline = time.monotonic() + 10
        while len(_pids_in(tmp_path)) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    pids = _pids_in(tmp_path)
    assert len(pids) == 2
    assert _gone(pids), "a process of a cancelled step is still running"


def test_checkout_is_streamed_through_a_pipe(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    big = os.urandom(3 * 1024 * 1024).hex()  # 6 MB: far more than a pipe's buffer
    commit = manager.make_repository(repo, files={"big.txt": big, "a/b.txt": "b\n"})
    into = tmp_path / "out"
    into.mkdir()
    archive = ["git", "-C", str(repo), "archive", "--format=tar", commit]
    asyncio.run(run_pipe(archive, ["tar", "-x", "-C", str(into)], what="checkout", timeout=60))
    assert (into / "big.txt").read_text() == big
    assert (into / "a/b.txt").read_text() == "b\n"
    bad = ["git", "-C", str(repo), "archive", "--format=tar", "0" * 40]
    with pytest.raises(BuildError, match="`git` exited"):
        asyncio.run(run_pipe(bad, ["tar", "-x", "-C", str(into)], what="checkout", timeout=60))


def test_a_build_past_its_step_deadline_fails_and_leaves_nothing(tmp_path: Path) -> None:
    """The build service's own steps (no hub needed before the launch)."""
    repos = tmp_path / "repos"
    script = _stubborn_script(tmp_path)[1]
    manager.make_repository(
        repos / "tests" / "slow",
        files={"requirements.txt": "httpx\n", "postBuild": Path(script).read_text()},
    )
    config = BuilderConfig(
        member="m", port=1, hub_api_url="http://127.0.0.1:1/hub/api/",
        hub_public_url="http://127.0.0.1:1/", hub_token="t", launch_host="http://127.0.0.1:1/",
        repos_dir=str(repos), cache_dir=str(tmp_path / "cache"), registry="r", secret="s",
        step_timeout=5.0,
    )  # fmt: skip
    lines: list[str] = []

    async def emit(event: dict[str, object]) -> None:
        lines.append(str(event["message"]).rstrip("\n"))

    async def build() -> None:
        service = BuildService(config)
        try:
            path, ref = service.repository(Spec.parse("gh/tests/slow/HEAD"))
            commit = await service.resolve_ref(path, ref)
            await service.build_environment(path, commit, emit)
        finally:
            await service.hub.aclose()

    with pytest.raises(BuildError, match="postBuild did not finish within 5 s") as failed:
        asyncio.run(build())
    assert "stopped with every process it started" in failed.value.message
    assert "started" in lines  # its output was streamed until then
    assert _gone(_pids_in(tmp_path))
    assert not list((tmp_path / "cache" / "envs").iterdir())  # nothing half-built is kept


# --- against a real sandbox -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[manager.SandboxState]:
    settings = manager.SandboxSettings(members=1, idle_timeout=300, max_age=3600)
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), settings) as state:
        yield state


def repository(state: manager.SandboxState, name: str, files: dict[str, str]) -> str:
    """A fresh local repository `gh/tests/<name>` in the sandbox's repositories folder."""
    return manager.make_repository(Path(state.repos_dir) / "tests" / name, files=files)


def allow(state: manager.SandboxState, *paths: Path) -> None:
    """What `binderfed sandbox launch PATH` records: the state folder's allow list."""
    data = {"repositories": [os.path.realpath(p) for p in paths]}
    (Path(state.dir) / "allowed.json").write_text(json.dumps(data))


def launch(
    state: manager.SandboxState, spec: str, events: list[BuildEvent] | None = None
) -> Session:
    with BinderHub(state.members[0].url) as hub:
        return hub.launch(spec, on_event=None if events is None else events.append)


def read_file(session: Session, path: str) -> str:
    """A file of the session's home, through its Jupyter contents API."""
    answer = httpx.get(
        session.url + f"api/contents/{path}",
        headers={"Authorization": f"token {session.token.get_secret_value()}"},
        timeout=10,
    )
    assert answer.status_code == 200, f"{path}: HTTP {answer.status_code}"
    content: str = answer.json()["content"]
    return content


def session_pid(state: manager.SandboxState, session: Session) -> int:
    username, server = session.url.rstrip("/").split("/")[-2:]
    with sandbox_hub_api(state, state.members[0].name) as api:
        user = api.get(f"users/{username}").json()
    pid: int = user["servers"][server]["state"]["pid"]
    return pid


def building(events: list[BuildEvent]) -> list[str]:
    return [e.message.rstrip("\n") for e in events if e.phase == "building"]


def raw_build(state: manager.SandboxState, path: str, **headers: str) -> list[dict[str, object]]:
    """The events of `/build/<path>` asked with exactly these bytes in the request path
    (http.client: httpx would resolve `..` segments before sending)."""
    member = state.members[0]
    connection = http.client.HTTPConnection("127.0.0.1", member.builder.port, timeout=120)
    try:
        connection.request(
            "GET", "/build/" + path, headers={"Accept": "text/event-stream", **headers}
        )
        response = connection.getresponse()
        assert response.status == 200
        body = response.read().decode()
    finally:
        connection.close()
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]


def test_binder_folder_wins_and_post_build_runs_in_the_session(
    sandbox: manager.SandboxState,
) -> None:
    repository(
        sandbox,
        "wins",
        {
            "requirements.txt": "surely-not-a-package-binderfed-root\n",
            "postBuild": "#!/bin/bash\necho root > which.txt\n",
            "binder/requirements.txt": "httpx\n",
            # no `#!`: run with bash, as a shell would; the environment is the session's
            "binder/postBuild": (
                "echo 'hello from postBuild'\n"
                'echo "binder $(python -c "import sys; print(sys.prefix)")" > which.txt\n'
            ),
            "binder/apt.txt": "curl\n",
        },
    )
    events: list[BuildEvent] = []
    session = launch(sandbox, "gh/tests/wins/HEAD", events)
    try:
        lines = building(events)
        assert "hello from postBuild" in lines  # streamed as a build event
        assert any(line.startswith("Requirement already satisfied: httpx") for line in lines)
        assert any("binder/apt.txt: not supported in the sandbox" in line for line in lines)
        assert not any("surely-not-a-package" in line for line in lines)
        which = read_file(session, "which.txt").split()
        assert which[0] == "binder"  # binder/postBuild ran, the root's did not
        assert which[1].endswith("/env")  # in the session's environment
        # the token is nowhere in the hub's database (it keeps the spawner's user_options)
        token = session.token.get_secret_value().encode()
        member_dir = Path(sandbox.dir) / sandbox.members[0].name
        databases = list(member_dir.glob("jupyterhub.sqlite*"))
        assert databases
        for database in databases:
            assert token not in database.read_bytes(), f"the session token is in {database}"
        with sqlite3.connect(member_dir / "jupyterhub.sqlite") as db:
            options = [json.loads(row[0] or "{}") for row in db.execute(
                "SELECT user_options FROM spawners")]  # fmt: skip
        assert any("token_file" in o for o in options)
        assert not any("token" in o for o in options)
        secrets_dir = Path(sandbox.dir) / "secrets"  # 0700, and the file read is gone
        assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
        assert not list(secrets_dir.iterdir())
    finally:
        session.shutdown()


def test_start_is_honoured_at_launch(sandbox: manager.SandboxState) -> None:
    repository(
        sandbox,
        "start",
        {
            ".binder/requirements.txt": "httpx\n",
            ".binder/start": (
                '#!/bin/bash\nexport FROM_START=yes\necho "$@" > started-with.txt\nexec "$@"\n'
            ),
        },
    )
    session = launch(sandbox, "gh/tests/start/HEAD")
    try:
        started_with = read_file(session, "started-with.txt")
        assert "-m jupyterlab" in started_with  # the server's command, as the arguments
        environ = Path(f"/proc/{session_pid(sandbox, session)}/environ").read_bytes()
        assert b"FROM_START=yes" in environ.split(b"\0")
    finally:
        session.shutdown()


def test_environment_yml_pip_section_and_conda_only_packages_by_name(
    sandbox: manager.SandboxState,
) -> None:
    repository(
        sandbox,
        "conda",
        {
            "environment.yml": (
                "name: x\n"
                "channels: [conda-forge]\n"
                "dependencies:\n"
                "  - python=3.11\n"
                "  - pip\n"
                "  - pyyaml=6\n"
                "  - numpy=1.26=py311_0\n"
                "  - binderfed-no-such-package-on-pypi\n"
                "  - pip:\n"
                "    - httpx\n"
            ),
            "requirements.txt": "surely-not-a-package-binderfed\n",  # conda wins: unused
        },
    )
    events: list[BuildEvent] = []
    session = launch(sandbox, "gh/tests/conda/HEAD", events)
    session.shutdown()
    lines = building(events)
    assert any("Requirement already satisfied: httpx" in line for line in lines)  # pip: section
    assert any("Requirement already satisfied: pyyaml==6.*" in line for line in lines)
    conda_only = [line for line in lines if "conda-only, not buildable in the sandbox" in line]
    assert len(conda_only) == 1
    assert "numpy=1.26=py311_0" in conda_only[0]
    assert "binderfed-no-such-package-on-pypi" in conda_only[0]
    assert any("requirements.txt: not used" in line for line in lines)


def test_no_environment_file_fails_as_on_mybinder(sandbox: manager.SandboxState) -> None:
    repository(sandbox, "bare", {"README.md": "nothing to build\n", "postBuild": "echo x\n"})
    with pytest.raises(BuildFailed) as failed:
        launch(sandbox, "gh/tests/bare/HEAD")
    assert NO_ENVIRONMENT in str(failed.value)


def test_a_runtime_the_sandbox_cannot_give_fails_clearly(sandbox: manager.SandboxState) -> None:
    repository(sandbox, "runtime", {"runtime.txt": "python-3.7\n", "requirements.txt": "httpx\n"})
    with pytest.raises(BuildFailed) as failed:
        launch(sandbox, "gh/tests/runtime/HEAD")
    text = str(failed.value)
    assert "runtime.txt asks for Python 3.7" in text
    assert "Pythons on this machine: " in text


def test_a_local_repository_by_file_url_once_allowed(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    # `%41` in the name: decoded twice, the path would name `my-A-project` instead
    repo = tmp_path / "my-%41-project"
    commit = manager.make_repository(repo, files={"requirements.txt": "httpx\n", "a.txt": "a\n"})
    real = os.path.realpath(repo)
    spec = f"git/{quote('file://' + real, safe='')}/HEAD"
    # not allowed yet: refused before anything is read, naming the way to allow it
    allow(sandbox)
    events = raw_build(sandbox, spec)
    assert events[-1]["phase"] == "failed"
    assert f"binderfed sandbox launch {real}" in str(events[-1]["message"])
    assert not [e for e in events if e["phase"] in {"fetching", "building", "ready"}]
    # allowed: built from the raw path's percent-encoded file URL, decoded exactly once
    allow(sandbox, repo)
    events = raw_build(sandbox, spec)
    ready = events[-1]
    assert ready["phase"] == "ready", events
    session = Session(str(ready["url"]), str(ready["token"]))
    try:
        assert read_file(session, "a.txt") == "a\n"
        assert str(ready["binder_ref_url"]).endswith(commit)
    finally:
        session.shutdown()
    # the SDK's own encoding of the same spec, and a plain absolute path
    launch(sandbox, spec).shutdown()
    launch(sandbox, f"git/{quote(real, safe='')}/{commit}").shutdown()


def test_a_working_tree_snapshot_is_shown_as_such(sandbox: manager.SandboxState) -> None:
    base = repository(sandbox, "snapshot", {"requirements.txt": "httpx\n"})
    repo = Path(sandbox.repos_dir) / "tests" / "snapshot"
    (repo / "changed.txt").write_text("uncommitted\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    message = f"binderfed working tree\n\nBinderfed-Working-Tree: {base}\n"
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@localhost",
         "commit", "-q", "-m", message],
        check=True,
    )  # fmt: skip
    events: list[BuildEvent] = []
    session = launch(sandbox, "gh/tests/snapshot/HEAD", events)
    try:
        assert read_file(session, "changed.txt") == "uncommitted\n"
    finally:
        session.shutdown()
    said = [e.message for e in events]
    assert f"working tree: uncommitted changes on top of {base[:12]}\n" in said


@pytest.mark.parametrize(
    "path",
    [
        "gh/../../HEAD",
        "gh/tests/..%2F..%2F../HEAD",
        "git/%2Fetc/HEAD",
        f"git/{quote('file:///etc', safe='')}/HEAD",
        f"git/{quote('file:///', safe='')}/HEAD",
    ],
)
def test_paths_the_user_did_not_allow_are_refused(sandbox: manager.SandboxState, path: str) -> None:
    events = raw_build(sandbox, path)
    assert [e["phase"] for e in events] in (["failed"], ["waiting", "failed"])


def test_a_symlink_out_of_the_repositories_folder_is_refused(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    manager.make_repository(outside, files={"requirements.txt": "httpx\n"})
    allow(sandbox)
    link = Path(sandbox.repos_dir) / "tests" / "link"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    events = raw_build(sandbox, "gh/tests/link/HEAD")
    assert events[-1]["phase"] == "failed"
    assert "binderfed sandbox launch" in str(events[-1]["message"])


def test_requests_for_another_host_are_refused(sandbox: manager.SandboxState) -> None:
    """DNS rebinding: a hostile page's name resolved to 127.0.0.1 comes as its Host."""
    member = sandbox.members[0]
    port = member.builder.port
    redirector_port = sandbox.redirector.port
    hostile = {"Host": f"evil.example:{port}"}
    answer = httpx.get(member.url + "build/gh/binderfed/demo/HEAD", headers={
        **hostile, "Accept": "text/event-stream"})  # fmt: skip
    assert answer.status_code == 403
    assert "data:" not in answer.text  # no build started
    assert httpx.get(member.url + "health", headers=hostile).status_code == 403
    assert httpx.get(member.url + "versions", headers={"Host": "127.0.0.1"}).status_code == 403
    assert (
        httpx.get(member.url + "health", headers={"Host": f"localhost:{port}"}).status_code == 200
    )
    assert httpx.get(member.url + "versions").status_code == 200
    redirector = sandbox.redirector_url
    for path in ("build/gh/binderfed/demo/HEAD", "active_hosts", "health"):
        answer = httpx.get(redirector + path, headers={"Host": f"evil.example:{redirector_port}"})
        assert answer.status_code == 403, path
    assert httpx.get(redirector + "active_hosts").status_code == 200


def test_a_client_that_leaves_stops_the_build_and_its_processes(
    sandbox: manager.SandboxState, tmp_path: Path
) -> None:
    repository(
        sandbox,
        "slow",
        {
            "requirements.txt": "httpx\n",
            "postBuild": (
                "#!/bin/bash\n"
                "trap '' TERM\n"
                f"sleep 600 & echo $! > {tmp_path}/background.pid\n"
                f"echo $$ > {tmp_path}/step.pid\n"
                "echo 'postBuild is waiting'\n"
                "sleep 600\n"
            ),
        },
    )
    with httpx.Client(timeout=60) as client, client.stream(
        "GET", sandbox.members[0].url + "build/gh/tests/slow/HEAD",
        headers={"Accept": "text/event-stream"},
    ) as response:  # fmt: skip
        for line in response.iter_lines():
            if "postBuild is waiting" in line:
                break
    pids = _pids_in(tmp_path)
    assert len(pids) == 2
    assert _gone(pids, timeout=10), "the build's processes outlived its client"
    envs = Path(sandbox.dir) / "cache" / "envs"
    deadline = time.monotonic() + 10
    while [p for p in envs.glob("*") if ".building-" in p.name] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in envs.glob("*") if ".building-" in p.name]


# --- breaking it (last) ---------------------------------------------------------------------


def test_a_hub_that_is_down_gives_a_failed_event(sandbox: manager.SandboxState) -> None:
    repository(sandbox, "hubdown", {"requirements.txt": "httpx\n"})
    member = sandbox.members[0]
    manager._stop_pids([member.hub.pid], lambda _: None)  # its hub only: the builder stays
    assert not psutil.pid_exists(member.hub.pid) or not manager.pid_alive(member.hub.pid)
    events = raw_build(sandbox, "gh/tests/hubdown/HEAD")
    assert events[-1]["phase"] == "failed", events
    assert "JupyterHub" in str(events[-1]["message"])
    assert "not answering" in str(events[-1]["message"])
