"""The in-session reading never breaks on odd environments: whatever the environment
variables, cgroup files, runtime file or status answer hold, `SessionInfoReader.read()`
answers a `SessionInfo` that serialises to JSON; a value it cannot use is reported in
`notes` (and in the display's details), and only http(s) links are ever offered."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binderfed_sdk.insession._member import http_link
from binderfed_sdk.insession._memory import CgroupLayout, read_cgroup
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader, read_session_info
from binderfed_sdk.insession._rules import bytes_or_reason

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
BINDER = {
    "BINDER_REPO_URL": "https://github.com/o/r",
    "BINDER_LAUNCH_HOST": "https://mybinder.org/",
    "BINDER_PERSISTENT_REQUEST": "v2/gh/o/r/4f1ab2c9d0e1",
}
#: every variable the reader (and the status source it makes by default) reads
VARIABLES = [
    "BINDER_REPO_URL", "BINDER_LAUNCH_HOST", "BINDER_REQUEST", "BINDER_PERSISTENT_REQUEST",
    "BINDER_REF_URL", "BINDERFED_FEDERATION", "BINDERFED_MEMBER", "JUPYTER_IMAGE_SPEC",
    "JUPYTERHUB_PUBLIC_HUB_URL", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_API_URL",
    "JUPYTERHUB_BASE_URL", "MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT", "JPY_PARENT_PID",
    "JUPYTER_SERVER_URL", "JUPYTERHUB_API_TOKEN",
]  # fmt: skip
V2_FILES = ["memory.current", "memory.max", "memory.stat", "cpu.stat"]
V1_FILES = ["memory/memory.usage_in_bytes", "memory/memory.limit_in_bytes", "memory/memory.stat"]
#: text that looks like what the variables hold, and what they should never hold
HOSTILE = st.one_of(
    st.text(),
    st.sampled_from(
        ["1e400", "inf", "-inf", "nan", "-1", "0", "9" * 400, "9" * 5000, "http://[",
         "javascript:alert(1)", "https://[::1", "https://h:99999/", "https://h:x/", "[:/x",
         "\x00", "²", "1_0", " 2147483648 ", "https://u:p@h/?token=abc", "//", "../.."]
    ),
)  # fmt: skip
CONTENT = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [b"max\n", b"-5\n", b"9" * 400, b"1e400", b"usage_usec -3\n", b"inactive_file x\n",
         b"inactive_file 99999999999999999999999\n", b"total_inactive_file -1\n", b"[" * 5000]
    ),
)  # fmt: skip


def check(info: SessionInfo) -> dict[str, Any]:
    """A SessionInfo whose JSON goes through a round trip and offers no other link."""
    answer: dict[str, Any] = json.loads(info.model_dump_json())
    again = SessionInfo.model_validate(answer)
    assert again.notes == info.notes
    for link in (info.persistent_link, info.launch_host):
        assert link is None or http_link(link) == link
    for note in info.notes:
        assert any(line.endswith(note) for line in info.display.details)
    return answer


def reader(environ: dict[str, str], folder: Path, **options: Any) -> SessionInfoReader:
    environ = {**environ, "JUPYTER_RUNTIME_DIR": str(folder)}
    return SessionInfoReader(environ=environ, cgroup_root=folder, **options)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    environ=st.dictionaries(st.sampled_from(VARIABLES), HOSTILE),
    in_binder=st.booleans(),
    files=st.dictionaries(st.sampled_from(V2_FILES + V1_FILES), CONTENT),
    runtime=st.one_of(st.none(), CONTENT),
    proc_cgroup=st.one_of(st.none(), st.text(), st.just("0::/../../\x00")),
)
def test_any_environment_gives_a_reading(
    environ: dict[str, str],
    in_binder: bool,
    files: dict[str, bytes],
    runtime: bytes | None,
    proc_cgroup: str | None,
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "memory").mkdir()
        for path, content in files.items():
            (folder / path).write_bytes(content)
        if runtime is not None:
            (folder / "jpserver-4242.json").write_bytes(runtime)
            environ = {**environ, "JPY_PARENT_PID": "4242"}
        base = BINDER if in_binder else {}
        info = reader({**base, **environ}, folder, proc_cgroup=proc_cgroup or "").read()
        check(info)


@settings(max_examples=200, deadline=None)
@given(
    started=st.one_of(st.none(), st.text(), st.datetimes(timezones=st.just(UTC))),
    last_activity=st.one_of(st.none(), st.text(), st.datetimes()),
    kernels=st.one_of(
        st.none(),
        st.text(),
        st.lists(
            st.dictionaries(
                st.sampled_from(["last_activity", "execution_state", "connections"]),
                st.one_of(st.text(), st.integers(), st.booleans(), st.none(), st.floats()),
            ),
            max_size=4,
        ),
    ),
)
def test_any_status_answer_gives_a_reading(started: Any, last_activity: Any, kernels: Any) -> None:
    status = {"started": started, "last_activity": last_activity, "kernel_activity": kernels}
    info = SessionInfoReader(environ=BINDER, cgroup_root=None, status=status).read(now=NOW)
    check(info)


@pytest.mark.parametrize(
    "value", ["1e400", "inf", "-inf", "nan", "-1", "0", "9" * 400, "9" * 5000, "lots"]
)
@pytest.mark.parametrize("variable", ["MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT"])
def test_a_figure_that_is_none_is_unknown_with_a_reason(
    tmp_path: Path, variable: str, value: str
) -> None:
    info = reader({**BINDER, variable: value}, tmp_path, status=None).read(now=NOW)
    check(info)
    assert [note.split(":")[0] for note in info.notes] == [variable]
    assert "read as unknown" in info.notes[0]
    assert f"Not used: {info.notes[0]}" in info.display.details
    # unknown: the federation's policy applies (mybinder.org: 2 GiB, 1 CPU)
    assert info.memory_limit == 2 << 30
    assert info.cpu_limit == 1.0


def test_figures_that_are_valid_are_used(tmp_path: Path) -> None:
    environ = {**BINDER, "MEM_LIMIT": "4294967296", "MEM_GUARANTEE": "1.5e9", "CPU_LIMIT": "2.5"}
    info = reader(environ, tmp_path, status=None).read(now=NOW)
    assert (info.memory_limit, info.memory_guarantee, info.cpu_limit) == (
        4 << 30,
        1_500_000_000,
        2.5,
    )
    assert info.notes == []
    # whole numbers are read exactly, not through a float
    assert bytes_or_reason(str((1 << 63) - 1)) == ((1 << 63) - 1, None)
    assert bytes_or_reason(str(1 << 63))[0] is None


@pytest.mark.parametrize(
    "variable",
    ["BINDER_LAUNCH_HOST", "JUPYTER_IMAGE_SPEC", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_API_URL",
     "JUPYTERHUB_PUBLIC_HUB_URL", "BINDER_PERSISTENT_REQUEST", "BINDER_REF_URL", "BINDER_REPO_URL"],
)  # fmt: skip
@pytest.mark.parametrize("value", ["http://[", "https://[::1", "https://h:x/", "[:/x"])
def test_an_unparsable_url_is_no_error(tmp_path: Path, variable: str, value: str) -> None:
    info = reader({**BINDER, variable: value}, tmp_path, status=None).read(now=NOW)
    check(info)
    assert info.member is None
    if variable == "BINDER_LAUNCH_HOST" and value != "https://h:x/":
        assert info.persistent_link is None
        assert any(note.startswith("persistent_link: not an http(s) URL") for note in info.notes)


@pytest.mark.parametrize(
    "launch_host",
    ["javascript:alert(document.cookie)//", "JavaScript:alert(1)//", "data:text/html,x",
     " javascript:alert(1)//", "java\tscript:alert(1)//", "//evil.example"],
)  # fmt: skip
def test_only_http_links_are_offered(tmp_path: Path, launch_host: str) -> None:
    info = reader({**BINDER, "BINDER_LAUNCH_HOST": launch_host}, tmp_path, status=None).read()
    check(info)
    assert (info.persistent_link, info.launch_host) == (None, None)
    assert "persistent_link: not an http(s) URL, not shown" in info.notes
    assert "javascript" not in info.model_dump_json().lower().replace("notes", "")
    assert info.display.notification is None or "javascript" not in info.display.notification


def test_a_fetched_answer_with_a_javascript_link_is_cleaned(tmp_path: Path) -> None:
    answer = json.loads(reader(BINDER, tmp_path, status=None).read().model_dump_json())
    assert answer["persistent_link"] == "https://mybinder.org/v2/gh/o/r/4f1ab2c9d0e1"
    answer["persistent_link"] = "javascript:alert(1)"
    info = SessionInfo.model_validate(answer)
    assert info.persistent_link is None
    assert info.notes == ["persistent_link: not an http(s) URL, not shown"]


def test_a_broken_federation_variable_falls_back(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    for value in ("nope", str(tmp_path), "\x00", str(deep)):
        info = reader({**BINDER, "BINDERFED_FEDERATION": value}, tmp_path, status=None).read()
        check(info)
        assert info.federation == "mybinder"
        assert info.notes[0].startswith("BINDERFED_FEDERATION: not a federation")


@pytest.mark.parametrize(
    ("name", "content"),
    [("memory.max", b"lots\n"), ("memory.max", b"-5\n"), ("memory.max", b"9" * 400),
     ("memory.current", b"\xff\xfe"), ("memory.stat", b"inactive_file -1\n"),
     ("cpu.stat", b"usage_usec 1e400\n")],
)  # fmt: skip
def test_cgroup_garbage_is_unknown_with_a_reason(tmp_path: Path, name: str, content: bytes) -> None:
    good = {
        "memory.current": b"1000000\n",
        "memory.max": b"2000000\n",
        "memory.stat": b"inactive_file 0\n",
        "cpu.stat": b"usage_usec 5\n",
    }
    for file, text in {**good, name: content}.items():
        (tmp_path / file).write_bytes(text)
    reading = read_cgroup(CgroupLayout(version=2, memory_dir=tmp_path, cpu_dir=tmp_path))
    assert [note.split(":")[0] for note in reading.notes] == [name]
    info = reader(BINDER, tmp_path, proc_cgroup="", status=None).read(now=NOW)
    check(info)
    assert any(note.startswith(name) for note in info.notes)
    if name == "memory.max":
        assert info.memory_limit == 2 << 30  # unknown: the federation's policy
    if name == "cpu.stat":
        assert info.cpu_seconds_left is None


def test_a_runtime_file_nested_too_deep_is_no_error(tmp_path: Path) -> None:
    (tmp_path / "jpserver-4242.json").write_text("[" * 100_000)
    environ = {**BINDER, "JPY_PARENT_PID": "4242"}
    check(reader(environ, tmp_path).read())
    (tmp_path / "jpserver-4242.json").write_text('{"url": "http://[", "pid": 1e400}')
    check(reader(environ, tmp_path).read())


def test_read_session_info_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**BINDER, "MEM_LIMIT": "1e400", "BINDER_LAUNCH_HOST": "http://["}.items():
        monkeypatch.setenv(name, value)
    info = read_session_info(cgroup_root=None, status=None)
    check(info)
    assert any(note.startswith("MEM_LIMIT") for note in info.notes)
