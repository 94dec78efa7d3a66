"""Whose cgroup: a session's memory figures come from the cgroup only when the cgroup is the
session's own (the Jupyter server, its descendants and ancestors, nothing else); in a cgroup
shared with other processes (a sandbox: hub, proxy, other sessions side by side) they come
from the session's process tree.

The logic runs on fake cgroup folders (in the kernel's formats, in tmp_path) with real
processes of this test as the session; the last tests ask a real Jupyter server on 127.0.0.1,
then a session of the real sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest
from servers import SESSION_ENV, running_sandbox, sandbox_hub_api, start_jupyter_server

from binderfed_sdk._format import format_bytes
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.insession._memory import (
    MAX_SESSION_PROCESSES,
    MAX_SUB_CGROUPS,
    CgroupWatch,
    Membership,
    cgroup_membership,
    cgroup_pids,
    find_cgroup,
    is_ancestor,
    membership,
    proc_parent,
    process_tree_usage,
)
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader
from binderfed_sdk.sandbox import manager

if TYPE_CHECKING:
    from collections.abc import Iterator

MIB = 1 << 20
#: a pod's processes: init (1) > repo2docker's entrypoint (50) > the Jupyter server (100) >
#: kernels (101, 102) > what a kernel runs (103); beside them, in a sandbox, the proxy (60,
#: the entrypoint's other child) and another session (200, under init)
PARENTS = {1: 0, 50: 1, 100: 50, 101: 100, 102: 100, 103: 101, 60: 50, 200: 1, 201: 200}

#: what a reading says of a cgroup shared with one other process (742 MiB, 4 GiB, 2 CPU-hours)
MEMORY_NOTE = (
    "cgroup memory (742 MiB used, limit 4.0 GiB): shared with 1 process outside this "
    "session; shown instead: the memory of this session's own processes (the Jupyter "
    "server, its kernels and terminals)"
)
CPU_NOTE = (
    "cgroup CPU time (2 h 00 min): shared with 1 process outside this session; counted "
    "instead: the CPU time of this session's own processes"
)


def parent_of(pid: int) -> int | None:
    return PARENTS.get(pid)


def members(*pids: int, root: int = 100, complete: bool = True) -> Membership:
    return membership(pids, root, complete=complete, parent_of=parent_of)


# --- who is in the cgroup --------------------------------------------------------------------


def test_the_server_its_descendants_and_ancestors_are_the_session() -> None:
    assert members(100, 101, 102, 103).own
    # repo2docker's entrypoint is the server's parent in every Binder pod; init may be there
    assert members(1, 50, 100, 101, 103) == Membership(others=0, has_root=True)


def test_any_other_process_makes_the_cgroup_shared() -> None:
    # the proxy beside the server, under the same parent (the hub of a sandbox)
    assert members(50, 60, 100, 101) == Membership(others=1, has_root=True)
    # another session, and what it runs
    assert members(100, 101, 200, 201) == Membership(others=2, has_root=True)
    # a PID from another PID namespace reads as 0: not one of ours
    assert members(0, 100) == Membership(others=1, has_root=True)
    # gone, or not ours to read: its chain cannot be followed, so it counts as another's
    assert members(100, 999) == Membership(others=1, has_root=True)
    assert not members(100, 60).own


def test_a_cgroup_without_the_server_is_not_the_sessions() -> None:
    assert members(101, 102) == Membership(others=0, has_root=False)
    assert not members(101, 102).own
    assert not members().own


def test_too_many_to_count_is_not_a_session() -> None:
    found = members(100, 101, complete=False)
    assert found == Membership(others=None, has_root=True)
    assert not found.own


def test_a_loop_of_parents_ends() -> None:
    """A parent chain that loops (it cannot, but the files are read one at a time while
    processes come and go) ends at the depth bound."""
    loop = {300: 301, 301: 300}
    found = membership([100, 300], 100, parent_of=lambda pid: loop.get(pid, PARENTS.get(pid)))
    assert found == Membership(others=1, has_root=True)
    assert not is_ancestor(100, 300, parent_of=loop.get)
    assert is_ancestor(50, 103, parent_of=parent_of)
    assert is_ancestor(103, 103, parent_of=parent_of)
    assert not is_ancestor(60, 103, parent_of=parent_of)


def test_parent_from_proc_stat(tmp_path: Path) -> None:
    assert proc_parent(os.getpid()) == os.getppid()
    assert proc_parent(2**22 + 7) is None  # no such process
    # the command name may hold spaces and parentheses: the last ")" ends it
    (tmp_path / "123").mkdir()
    (tmp_path / "123" / "stat").write_bytes(b"123 (a) b (c)) S 77 123 123 0 -1 4194560\n")
    assert proc_parent(123, tmp_path) == 77
    (tmp_path / "124").mkdir()
    (tmp_path / "124" / "stat").write_bytes(b"124 (x) S\n")
    assert proc_parent(124, tmp_path) is None


# --- the cgroup's processes ------------------------------------------------------------------


def test_cgroup_processes_include_the_sub_cgroups(tmp_path: Path) -> None:
    (tmp_path / "cgroup.procs").write_text("100\n101\n")
    (tmp_path / "memory.current").write_text("1\n")  # files are not sub-cgroups
    child = tmp_path / "init.scope"
    child.mkdir()
    (child / "cgroup.procs").write_text("60\n")
    (child / "empty").mkdir()  # a sub-cgroup without processes
    (child / "empty" / "cgroup.procs").write_text("")
    assert cgroup_pids(tmp_path) == (frozenset({100, 101, 60}), True)
    found = cgroup_membership(tmp_path, 100, parent_of=parent_of)
    assert found == Membership(others=1, has_root=True)
    assert cgroup_pids(child) == (frozenset({60}), True)
    assert cgroup_pids(tmp_path / "missing") is None
    assert cgroup_membership(tmp_path / "missing", 100) is None  # nothing tells whose


def test_cgroup_processes_are_read_within_bounds(tmp_path: Path) -> None:
    many = range(1000, 1000 + MAX_SESSION_PROCESSES + 1)
    (tmp_path / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in many))
    pids, complete = cgroup_pids(tmp_path) or (frozenset(), True)
    assert not complete
    assert len(pids) <= MAX_SESSION_PROCESSES + 1
    assert not cgroup_membership(tmp_path, 1000).own  # type: ignore[union-attr]

    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "cgroup.procs").write_text("100\n")
    for index in range(MAX_SUB_CGROUPS):
        (nested / f"g{index}").mkdir()
        (nested / f"g{index}" / "cgroup.procs").write_text("")
    assert cgroup_pids(nested) == (frozenset({100}), False)
    assert cgroup_pids(nested, max_groups=MAX_SUB_CGROUPS + 1) == (frozenset({100}), True)

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "cgroup.procs").write_text("100\nnot-a-pid\n\n101\n")
    assert cgroup_pids(junk) == (frozenset({100, 101}), True)


def test_a_watch_follows_the_cgroup_and_asks_for_parents_only_on_change(tmp_path: Path) -> None:
    asked: list[int] = []

    def counting(pid: int) -> int | None:
        asked.append(pid)
        return PARENTS.get(pid)

    (tmp_path / "cgroup.procs").write_text("100\n101\n")
    watch = CgroupWatch(tmp_path, 100, parent_of=counting)
    assert watch.membership() == Membership(others=0, has_root=True)
    first = len(asked)
    assert first > 0
    assert watch.membership() == Membership(others=0, has_root=True)
    assert len(asked) == first  # the same processes: nothing asked again
    (tmp_path / "cgroup.procs").write_text("100\n101\n60\n")  # the proxy joins
    assert watch.membership() == Membership(others=1, has_root=True)
    assert len(asked) > first
    (tmp_path / "cgroup.procs").unlink()
    assert watch.membership() is None


# --- the reader: real processes as the session -------------------------------------------------


def write_v2(folder: Path, *, current: int, limit: str = "max", usec: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.current").write_text(f"{current}\n")
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.stat").write_text("anon 1\ninactive_file 0\n")
    (folder / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\n")


def holding(mib: int) -> subprocess.Popen[bytes]:
    """A process holding `mib` MiB, once it holds them."""
    child = subprocess.Popen(
        [sys.executable, "-c", f"b = bytearray({mib} << 20); import time; time.sleep(60)"]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if psutil.Process(child.pid).memory_info().rss > mib * MIB:
            return child
        time.sleep(0.05)
    child.kill()
    msg = f"the child did not take {mib} MiB within 20 s"
    raise RuntimeError(msg)


@pytest.fixture
def two_children() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """The session's server (holding 64 MiB) and a process beside it (a sandbox's proxy)."""
    server = holding(64)
    try:
        other = holding(1)
        try:
            yield server, other
        finally:
            other.kill()
            other.wait(10)
    finally:
        server.kill()
        server.wait(10)


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def test_own_cgroup_gives_the_cgroups_figures(
    tmp_path: Path, two_children: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    """The server with its ancestors (this test, as an entrypoint is in a pod): the cgroup's."""
    server, _ = two_children
    write_v2(tmp_path, current=1500 * MIB, limit=str(1800 * MIB), usec=600_000_000)
    (tmp_path / "cgroup.procs").write_text(f"{os.getpid()}\n{server.pid}\n")
    environ = {**SESSION_ENV, "MEM_LIMIT": str(2048 * MIB)}
    reader = SessionInfoReader(
        environ=environ, cgroup_root=tmp_path, proc_cgroup="", status={}, process_root=server.pid
    )
    info = reader.read()
    assert (info.memory_used, info.memory_source) == (1500 * MIB, "cgroup-v2")
    assert info.memory_limit == 1800 * MIB  # the cgroup's limit counts: it is the session's
    assert info.cpu_seconds_left == pytest.approx(3000.0)
    assert info.notes == []


def test_shared_cgroup_gives_the_process_trees_figures(
    tmp_path: Path, two_children: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    """The server and a process beside it in one cgroup: the cgroup's figures (the machine's)
    are not the session's; its limit is not the session's either (MEM_LIMIT is)."""
    server, other = two_children
    write_v2(tmp_path, current=742 * MIB, limit=str(4096 * MIB), usec=7_200_000_000)
    (tmp_path / "cgroup.procs").write_text(f"{os.getpid()}\n{server.pid}\n{other.pid}\n")
    environ = {**SESSION_ENV, "MEM_LIMIT": str(2048 * MIB)}
    reader = SessionInfoReader(
        environ=environ, cgroup_root=tmp_path, proc_cgroup="", status={}, process_root=server.pid
    )
    info = reader.read()
    direct = tree_rss(server.pid)
    assert info.memory_source == "process-tree"
    assert info.memory_used is not None
    assert abs(info.memory_used - direct) <= max(0.05 * direct, 8 * MIB)
    assert 64 * MIB < info.memory_used < 742 * MIB
    assert info.memory_limit == 2048 * MIB  # MEM_LIMIT, not the shared cgroup's 4 GiB
    # CPU: the tree's few seconds, not the cgroup's two hours
    assert info.cpu_seconds_left is not None
    assert info.cpu_seconds_left > 3600.0 - 30.0
    assert info.notes == [MEMORY_NOTE, CPU_NOTE]
    assert f"Memory: {format_bytes(info.memory_used)} / 2.0 GiB" in "\n".join(info.display.details)
    assert "Not used: cgroup memory (742 MiB used" in "\n".join(info.display.details)

    # the process beside it goes: the cgroup is the session's again, at the next reading
    (tmp_path / "cgroup.procs").write_text(f"{server.pid}\n")
    again = reader.read()
    assert (again.memory_used, again.memory_source, again.notes) == (742 * MIB, "cgroup-v2", [])
    assert again.memory_limit == 2048 * MIB  # the lower of MEM_LIMIT and the cgroup's


def test_a_cgroup_without_the_server(
    tmp_path: Path, two_children: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    server, other = two_children
    write_v2(tmp_path, current=742 * MIB)
    (tmp_path / "cgroup.procs").write_text(f"{other.pid}\n")
    reader = SessionInfoReader(
        environ={}, cgroup_root=tmp_path, proc_cgroup="", status={}, process_root=server.pid
    )
    info = reader.read()
    assert info.memory_source == "process-tree"
    assert info.notes[0].startswith("cgroup memory (742 MiB used): the Jupyter server is not in it")
    many = "".join(f"{pid}\n" for pid in range(10_000, 10_000 + 2 * MAX_SESSION_PROCESSES))
    (tmp_path / "cgroup.procs").write_text(f"{server.pid}\n{many}")
    info = reader.read()
    assert info.memory_source == "process-tree"
    assert "shared with more processes than a session has" in info.notes[0]


def test_v1_memory_own_but_cpu_shared(
    tmp_path: Path, two_children: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]
) -> None:
    """cgroup v1 puts memory and CPU in separate hierarchies: each is judged by its own
    processes (a machine whose CPU hierarchy is the root's, as this one's may be)."""
    server, other = two_children
    memory = tmp_path / "memory"
    memory.mkdir()
    (memory / "memory.usage_in_bytes").write_text(f"{300 * MIB}\n")
    (memory / "memory.limit_in_bytes").write_text(f"{1024 * MIB}\n")
    (memory / "memory.stat").write_text("total_inactive_file 0\n")
    (memory / "cgroup.procs").write_text(f"{server.pid}\n")
    cpu = tmp_path / "cpuacct"
    cpu.mkdir()
    (cpu / "cpuacct.usage").write_text(f"{7200 * 10**9}\n")
    (cpu / "cgroup.procs").write_text(f"{server.pid}\n{other.pid}\n")
    reader = SessionInfoReader(
        environ=SESSION_ENV, cgroup_root=tmp_path, proc_cgroup="", status={},
        process_root=server.pid,
    )  # fmt: skip
    info = reader.read()
    assert (info.memory_used, info.memory_source, info.memory_limit) == (
        300 * MIB,
        "cgroup-v1",
        1024 * MIB,
    )
    assert info.cpu_seconds_left is not None
    assert info.cpu_seconds_left > 3600.0 - 30.0
    assert info.notes == [CPU_NOTE]


def test_process_tree_usage_counts_the_descendants() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import time; sum(range(3 * 10**7)); time.sleep(60)"]
    ) as child:
        try:
            me = psutil.Process()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and psutil.Process(child.pid).cpu_times().user < 0.3:
                time.sleep(0.05)
            usage = process_tree_usage(os.getpid())
            assert usage is not None
            mine = me.cpu_times()
            assert usage.cpu_seconds >= mine.user + mine.system + 0.3  # the child's counts
            assert abs(usage.rss - tree_rss(os.getpid())) <= 8 * MIB
            assert process_tree_usage(2**22 + 7) is None
        finally:
            child.kill()


# --- which process is the server -------------------------------------------------------------


def test_a_terminals_process_measures_the_server_it_runs_under(tmp_path: Path) -> None:
    """Outside a kernel (a script in a terminal) the root is the server whose runtime file
    names it, if that server is one of this process's ancestors; else this process."""
    parent = os.getppid()  # stands for the server this test runs under
    url = "http://127.0.0.1:1/"
    (tmp_path / f"jpserver-{parent}.json").write_text(json.dumps({"pid": parent, "url": url}))
    env = {"JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_SERVER_URL": url}
    assert SessionInfoReader(environ=env, cgroup_root=None, status={}).session_root() == parent
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            other = {"pid": child.pid, "url": url}  # alive, but not an ancestor
            (tmp_path / f"jpserver-{parent}.json").unlink()
            (tmp_path / f"jpserver-{child.pid}.json").write_text(json.dumps(other))
            reader = SessionInfoReader(environ=env, cgroup_root=None, status={})
            assert reader.session_root() == os.getpid()
        finally:
            child.kill()
    assert SessionInfoReader(process_root=4242, status={}).session_root() == 4242


# --- a real Jupyter server -------------------------------------------------------------------


def tree(pid: int) -> tuple[set[int], int]:
    """The PIDs of a process tree and their resident memory, summed."""
    root = psutil.Process(pid)
    processes = [root, *root.children(recursive=True)]
    return {p.pid for p in processes}, sum(p.memory_info().rss for p in processes)


def steady_tree(pid: int, size: int = 2, timeout: float = 60.0) -> tuple[set[int], int]:
    """The tree once it holds `size` processes (the server and its kernel) and their memory
    is steady: the same processes, within 1 MiB, over three readings 0.5 s apart."""
    deadline = time.monotonic() + timeout
    readings: list[tuple[set[int], int]] = []
    while time.monotonic() < deadline:
        now = tree(pid)
        readings = [r for r in readings[-2:] if r[0] == now[0]] + [now]
        sizes = [size for _, size in readings]
        if len(now[0]) == size and len(readings) == 3 and max(sizes) - min(sizes) <= MIB:
            return now
        time.sleep(0.5)
    msg = f"the server's process tree did not settle within {timeout:g} s: {readings}"
    raise AssertionError(msg)


def test_a_real_server_in_a_shared_cgroup_reports_its_process_tree(tmp_path: Path) -> None:
    """A Jupyter server with a kernel, started here beside another process (as a sandbox's
    sessions run beside its hub and proxy): its `binderfed/session` answer measures the
    server's process tree, whatever cgroup this machine puts them in."""
    env = {**SESSION_ENV, "MEM_LIMIT": str(1536 * MIB)}
    beside = holding(1)
    server = start_jupyter_server(tmp_path / "server", env=env)
    try:
        headers = {"Authorization": f"token {server.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            kernel = client.post("api/kernels", json={"name": "python3"})
            assert kernel.status_code == 201, kernel.text
            kernel_id = kernel.json()["id"]
            pid = server.process.pid
            # the tree at rest: the kernel started, nothing else under the server (JupyterLab
            # runs `npm prefix` once at its start), its memory no longer growing
            before = steady_tree(pid)
            assert client.get(f"api/kernels/{kernel_id}").status_code == 200
            answer = client.get("binderfed/session")
            after = tree(pid)
        assert answer.status_code == 200, answer.text
        assert after[0] == before[0], "the tree changed during the reading"
        direct = before[1]
        assert answer.status_code == 200, answer.text
        info = SessionInfo.model_validate(answer.json())
        assert info.in_binder
        assert info.memory_source == "process-tree"
        assert info.memory_used is not None
        # the server and its kernel, read a moment apart: within 5 %, or 8 MiB
        assert abs(info.memory_used - direct) <= max(0.05 * direct, 8 * MIB), (
            info.memory_used,
            direct,
        )
        assert len(before[0]) == 2  # the server and its kernel
        assert info.memory_used > psutil.Process(pid).memory_info().rss  # the kernel counts
        assert info.memory_limit == 1536 * MIB  # MEM_LIMIT, never a shared cgroup's limit
        layout = find_cgroup()
        if layout is not None and layout.memory_dir is not None:
            # this machine has a memory cgroup, holding this test and the process beside
            # the server too: its figures are read, and said not to be the session's
            assert any(n.startswith("cgroup memory (") for n in info.notes), info.notes
    finally:
        server.stop()
        beside.kill()
        beside.wait(10)


def test_a_sandbox_session_reports_its_own_memory(tmp_path: Path) -> None:
    """The case of the issue: a session of the real sandbox runs beside its hub, proxy,
    build service and redirector, in whatever cgroup they share; its status reports its own
    server's memory (not the 742 MiB of all of them) against the sandbox's 2 GiB."""
    settings = manager.SandboxSettings(members=1, idle_timeout=600.0, cull_every=60.0)
    with running_sandbox(tmp_path / "sandbox", settings) as state:
        manager.make_repository(
            Path(state.repos_dir) / "tests" / "memory", files={"requirements.txt": "httpx\n"}
        )
        with Federation("sandbox") as fed:
            session = fed.launch("gh/tests/memory/HEAD", via_redirector=True)
        try:
            username, name = session.url.rstrip("/").split("/")[-2:]
            with sandbox_hub_api(state, session.member or "") as api:
                pid = api.get(f"users/{username}").json()["servers"][name]["state"]["pid"]
            before = steady_tree(pid, size=1)
            info = session.info()
            after = tree(pid)
        finally:
            assert session.shutdown()
    assert after[0] == before[0], "the tree changed during the reading"
    assert info.memory_source == "process-tree"
    assert info.memory_used is not None
    assert abs(info.memory_used - before[1]) <= max(0.05 * before[1], 8 * MIB)
    assert info.memory_limit == 2 << 30  # the sandbox's MEM_LIMIT
    layout = find_cgroup()
    if layout is not None and layout.memory_dir is not None:
        assert any(n.startswith("cgroup memory (") for n in info.notes), info.notes
