"""SessionInfo: the culler's arithmetic, member identification, cgroup files in the kernel's
formats (written for real into tmp_path), the psutil fallback against psutil's own reading."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from servers import SESSION_ENV

from binderfed_sdk._format import format_bytes, format_duration
from binderfed_sdk.federation._config import load_federation
from binderfed_sdk.federation._limits import SessionLimits
from binderfed_sdk.insession._member import (
    identify_member,
    image_registry_host,
    persistent_link,
    public_url,
    ref_of,
)
from binderfed_sdk.insession._memory import (
    CgroupLayout,
    find_cgroup,
    process_tree_rss,
    read_cgroup,
    stat_value,
)
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import SessionInfoReader, read_session_info
from binderfed_sdk.insession._rules import (
    KernelActivity,
    choose_memory_limit,
    memory_level,
    parse_status_time,
    time_left,
    time_level,
)
from binderfed_sdk.insession._server import JupyterServerStatus, find_parent_server

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1 << 20
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MYBINDER = load_federation("mybinder")
LIMITS = SessionLimits()  # mybinder.org's: idle 600 s, max age 6 h, 1 CPU-hour

#: the wire format shared with the JupyterLab status bar: exactly these names, in this order
WIRE_FIELDS = [
    "in_binder", "reason", "member", "member_source", "federation", "repo_url", "ref_url",
    "ref", "persistent_link", "latest_link", "launch_host", "started", "last_activity", "now",
    "idle_seconds_left", "server_idle_seconds_left", "max_age_seconds_left",
    "cpu_seconds_left", "seconds_left", "seconds_left_latest", "cull_reason", "stops",
    "kernel_stop", "kernels", "cull_window", "memory_used", "memory_source", "memory_limit",
    "memory_guarantee", "cpu_limit", "limits", "warn_memory_fraction", "warn_minutes", "notes",
]  # fmt: skip
#: computed from the fields, and in the JSON too: the levels and the words every front end shows
COMPUTED_FIELDS = ["memory_level", "time_thresholds", "time_level", "level", "display"]

# BinderHub's variables only
BINDER_ENV = {k: v for k, v in SESSION_ENV.items() if k.startswith("BINDER_")}


def write_v2(
    folder: Path, *, current: int, limit: str = "max", inactive: int = 0, usec: int = 0
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.current").write_text(f"{current}\n")
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.stat").write_text(
        f"anon {current - inactive}\nfile {inactive}\nkernel 0\nactive_anon 0\n"
        f"inactive_anon {current - inactive}\nactive_file 0\ninactive_file {inactive}\n"
        "unevictable 0\n"
    )
    (folder / "cpu.stat").write_text(
        f"usage_usec {usec}\nuser_usec {usec // 2}\nsystem_usec {usec - usec // 2}\n"
        "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
    )
    return folder


def write_v1(
    root: Path,
    *,
    usage: int,
    limit: int = 9223372036854771712,
    inactive: int = 0,
    nsec: int = 0,
    cpu_dir: str = "cpuacct",
) -> Path:
    memory = root / "memory"
    memory.mkdir(parents=True, exist_ok=True)
    (memory / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (memory / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (memory / "memory.stat").write_text(
        f"cache {inactive}\nrss {usage - inactive}\ninactive_file {inactive}\n"
        f"hierarchical_memory_limit {limit}\ntotal_cache {inactive}\n"
        f"total_rss {usage - inactive}\ntotal_inactive_file {inactive}\n"
    )
    cpu = root / cpu_dir
    cpu.mkdir(parents=True, exist_ok=True)
    (cpu / "cpuacct.usage").write_text(f"{nsec}\n")
    return root


# --- time left -----------------------------------------------------------------------------


#: the hub's culler alone (the Jupyter server's own shutdown off): jupyterhub-idle-culler's rule
HUB_ONLY = SessionLimits(server_idle_timeout=None, kernel_idle_timeout=None)


def test_idle_is_the_nearest_stop() -> None:
    left = time_left(
        LIMITS,
        now=NOW,
        started=NOW - timedelta(hours=1),
        last_activity=NOW - timedelta(minutes=5),
        cpu_used=60.0,
        kernels=[],
    )
    assert left.idle == 300.0
    assert left.server_idle == 300.0
    assert left.max_age == 21_600.0 - 3600.0
    assert left.cpu == 3540.0
    # both idle clocks run out together; the server checks every 60 s, the hub every 660 s
    # (and learns of activity every 300 s): the server's own shutdown comes first
    assert (left.seconds, left.latest, left.reason) == (300.0, 360.0, "server-idle")
    assert [(w.reason, w.earliest, w.latest) for w in left.windows] == [
        ("server-idle", 300.0, 360.0),
        ("idle", 300.0, 300.0 + 300.0 + 660.0),
        ("cpu", 3540.0, None),  # a session that stays idle never uses it up
        ("max-age", 18_000.0, 18_000.0 + 660.0),
    ]
    assert left.kernel is None


def test_max_age_wins_over_recent_activity() -> None:
    left = time_left(
        LIMITS,
        now=NOW,
        started=NOW - timedelta(hours=5, minutes=58),
        last_activity=NOW - timedelta(seconds=10),
        kernels=[],
    )
    assert left.idle == 590.0
    assert left.max_age == 120.0
    assert left.cpu is None  # no CPU reading: not part of the minimum
    assert (left.seconds, left.reason) == (120.0, "max-age")
    assert left.latest == 650.0  # the server's own shutdown bounds it, if nothing runs


def test_cpu_budget_can_be_the_nearest() -> None:
    left = time_left(
        LIMITS, now=NOW, started=NOW - timedelta(minutes=1), last_activity=NOW, cpu_used=3550.5
    )
    assert (left.seconds, left.reason) == (49.5, "cpu")
    two_cores = SessionLimits(cpu_limit=2.0)
    left = time_left(
        two_cores, now=NOW, started=NOW - timedelta(minutes=1), last_activity=NOW, cpu_used=3500
    )
    assert (left.cpu, left.reason) == (50.0, "cpu")  # at full use of both cores


def test_clamped_at_zero() -> None:
    left = time_left(
        LIMITS,
        now=NOW,
        started=NOW - timedelta(hours=7),
        last_activity=NOW - timedelta(minutes=30),
        cpu_used=9000.0,
        kernels=[],
    )
    assert (left.idle, left.max_age, left.cpu, left.seconds, left.latest) == (0, 0, 0, 0, 0)
    assert left.reason == "server-idle"  # ties: the server, the hub, max age, CPU


def test_no_last_activity_counts_from_started() -> None:
    # the culler: inactive = now - (last_activity or started)
    left = time_left(LIMITS, now=NOW, started=NOW - timedelta(minutes=4), last_activity=None)
    assert left.idle == 360.0


def test_unknown_times_and_no_max_age() -> None:
    left = time_left(
        SessionLimits(max_age=None, cpu_seconds=None),
        now=NOW,
        started=NOW - timedelta(days=3),
        last_activity=NOW,
        cpu_used=1e6,
    )
    assert (left.max_age, left.cpu, left.seconds) == (None, None, 600.0)
    # kernels not known: the server's own shutdown has no later bound (an open kernel delays
    # it), so the hub's culler is the one that bounds the end
    assert (left.server_idle, left.latest, left.reason) == (600.0, 1560.0, "idle")
    nothing = time_left(LIMITS, now=NOW, started=None, last_activity=None)
    assert (nothing.idle, nothing.max_age, nothing.seconds, nothing.reason) == (
        None,
        None,
        None,
        None,
    )


def test_an_idle_kernel_delays_the_servers_own_shutdown() -> None:
    """mybinder.org's values.yaml: with a kernel open, the effective idle timeout is the
    kernel's cull timeout + the server's, as culling the kernel counts as activity."""
    minute_ago = NOW - timedelta(minutes=1)
    idle_kernel = KernelActivity(last_activity=minute_ago, execution_state="idle", connections=1)
    left = time_left(
        LIMITS,
        now=NOW,
        started=NOW - timedelta(hours=1),
        last_activity=minute_ago,
        kernels=[idle_kernel],
    )
    # the kernel culler (cull_connected): idle > 600 s at a check every 60 s
    assert left.kernel is not None
    assert (left.kernel.reason, left.kernel.earliest, left.kernel.latest) == ("kernel", 540, 600)
    # then the server: > 600 s after that cull, at its check every 60 s
    assert (left.reason, left.seconds, left.latest) == ("server-idle", 1140.0, 1260.0)
    # the hub hears of the cull too (the server reports its last activity, culls included)
    assert (left.idle, left.kernels) == (1140.0, 1)

    # the last activity is the latest of the server's record and the kernel's cull
    busy_typing = time_left(
        LIMITS,
        now=NOW,
        started=NOW - timedelta(hours=1),
        last_activity=NOW,
        kernels=[
            KernelActivity(last_activity=NOW - timedelta(minutes=9)),
            KernelActivity(last_activity=minute_ago),
        ],
    )
    assert busy_typing.kernel is not None
    assert (busy_typing.kernel.earliest, busy_typing.kernel.latest) == (60.0, 120.0)
    assert (busy_typing.seconds, busy_typing.latest) == (1140.0, 1260.0)
    assert busy_typing.kernels == 2


def test_kernels_the_culler_leaves_alone() -> None:
    started = NOW - timedelta(hours=1)
    old = NOW - timedelta(minutes=20)
    busy = KernelActivity(last_activity=old, execution_state="busy")
    left = time_left(LIMITS, now=NOW, started=started, last_activity=old, kernels=[busy])
    # a busy kernel is never culled: the server never stops itself; the hub's culler still
    # does (a silent computation is no activity)
    assert left.kernel is None
    assert left.server_idle is None
    assert (left.reason, left.seconds, left.latest) == ("idle", 0.0, 1560.0 - 1200.0)
    assert time_left(
        SessionLimits(kernel_cull_busy=True), now=NOW, started=started, last_activity=old,
        kernels=[busy],
    ).kernel is not None  # fmt: skip

    connected = KernelActivity(last_activity=old, execution_state="idle", connections=2)
    polite = SessionLimits(kernel_cull_connected=False)
    left = time_left(polite, now=NOW, started=started, last_activity=old, kernels=[connected])
    assert (left.kernel, left.server_idle, left.reason) == (None, None, "idle")
    no_culler = SessionLimits(kernel_idle_timeout=None)
    left = time_left(no_culler, now=NOW, started=started, last_activity=old, kernels=[connected])
    assert (left.kernel, left.server_idle) == (None, None)


def _first_tick(after: float, phase: float, every: float) -> float:
    """The first check at `phase + n * every` (n whole) strictly past `after`."""
    tick = phase + math.floor((after - phase) / every) * every
    while tick <= after:
        tick += every
    return tick


@given(
    inactive=st.floats(min_value=0, max_value=2000),
    kernel_idle=st.one_of(st.none(), st.floats(min_value=0, max_value=2000)),
    kernel_phase=st.floats(min_value=0, max_value=59.999),
    server_phase=st.floats(min_value=0, max_value=59.999),
)
def test_the_servers_shutdown_comes_within_the_interval(
    inactive: float, kernel_idle: float | None, kernel_phase: float, server_phase: float
) -> None:
    """jupyter_server, played out: the kernel culler checks every 60 s (`dt_idle > timeout`),
    a cull is activity; the server checks every 60 s, only with no kernel left
    (`seconds_since_active > timeout`). The stop lands in [seconds, latest] (at 0 when it is
    due already: the reading can only say "any moment")."""
    last = -inactive
    kernels = []
    if kernel_idle is not None:
        kernel_idle = min(kernel_idle, inactive)  # the server's record includes the kernel's
        kernels.append(KernelActivity(last_activity=NOW - timedelta(seconds=kernel_idle)))
        cull = _first_tick(-kernel_idle + 600, kernel_phase, 60)
        last = max(last, cull)
    stop = _first_tick(last + 600, server_phase, 60)
    limits = SessionLimits(max_age=None, cpu_seconds=None)
    left = time_left(
        limits,
        now=NOW,
        started=NOW - timedelta(hours=1),
        last_activity=NOW - timedelta(seconds=inactive),
        kernels=kernels,
    )
    server = next(w for w in left.windows if w.reason == "server-idle")
    assert server.latest is not None
    # within a few microseconds of rounding (timedelta keeps microseconds)
    assert server.earliest - 1e-3 <= max(0.0, stop) <= server.latest + 1e-3


@given(
    age=st.floats(min_value=0, max_value=50_000),
    inactive_share=st.floats(min_value=0, max_value=1),
    timeout=st.floats(min_value=1, max_value=10_000),
    max_age=st.floats(min_value=1, max_value=40_000),
)
def test_the_cullers_rule(
    age: float, inactive_share: float, timeout: float, max_age: float
) -> None:
    """min(timeout - inactive, max_age - age), each clamped at 0, as jupyterhub-idle-culler."""
    inactive = age * inactive_share
    started = NOW - timedelta(seconds=age)
    last_activity = NOW - timedelta(seconds=inactive)
    limits = HUB_ONLY.model_copy(
        update={"idle_timeout": timeout, "max_age": max_age, "cpu_seconds": None}
    )
    left = time_left(limits, now=NOW, started=started, last_activity=last_activity)
    # timedelta keeps microseconds: compare with the same rounding
    real_age = (NOW - started).total_seconds()
    real_inactive = (NOW - last_activity).total_seconds()
    expected = min(max(0.0, timeout - real_inactive), max(0.0, max_age - real_age))
    assert left.seconds == pytest.approx(expected, abs=1e-6)
    culled_now = real_inactive >= timeout or real_age >= max_age
    assert (left.seconds == 0.0) == culled_now
    assert left.latest is not None
    assert left.seconds is not None
    assert left.seconds <= left.latest


# --- member identification ---------------------------------------------------------------


def test_member_from_the_sandbox_variable_first() -> None:
    environ = {
        "BINDERFED_MEMBER": "bids-ovh",
        "JUPYTER_IMAGE_SPEC": "registry.gesis.mybinder.org/binder-prod/r2d-abc:1",
    }
    assert identify_member(environ, MYBINDER) == ("bids-ovh", "sandbox")


@pytest.mark.parametrize(
    ("image", "member"),
    [
        ("registry.gesis.mybinder.org/binder-prod/r2d-g5b5b759-binder:4f1ab2c", "hetzner-gesis"),
        ("oci.2i2c.mybinder.org/binder/r2d-abc:1", "hetzner-2i2c"),
        ("REGISTRY.BIDS.MYBINDER.ORG:443/binder/r2d-abc:1", "bids-ovh"),
        ("jupyter/base-notebook:latest", None),  # Docker Hub: no host part
        ("quay.io/jupyter/base-notebook", None),  # a host, but no member's
    ],
)  # fmt: skip
def test_member_from_the_image_registry(image: str, member: str | None) -> None:
    found = identify_member({"JUPYTER_IMAGE_SPEC": image}, MYBINDER)
    assert found == ((member, "image-registry") if member else (None, None))


def test_image_registry_host() -> None:
    assert image_registry_host("localhost:5000/r2d:1") == "localhost:5000"
    assert image_registry_host("localhost/r2d") == "localhost"
    assert image_registry_host("library/python:3") is None
    assert image_registry_host("python:3") is None
    assert image_registry_host(None) is None


def test_member_from_the_hub_host() -> None:
    environ = {
        "JUPYTERHUB_API_URL": "https://hub.bids.mybinder.org/hub/api",
        "JUPYTERHUB_BASE_URL": "/",
        "BINDER_LAUNCH_HOST": "https://mybinder.org/",
    }
    assert identify_member(environ, MYBINDER) == ("bids-ovh", "hub-host")
    in_cluster = {"JUPYTERHUB_API_URL": "http://hub:8081/hub/api", "JUPYTERHUB_BASE_URL": "/"}
    assert identify_member(in_cluster, MYBINDER) == (None, None)


def test_member_from_the_launch_host_but_not_the_front_door() -> None:
    direct = {"BINDER_LAUNCH_HOST": "https://gesis.mybinder.org/"}
    assert identify_member(direct, MYBINDER) == ("hetzner-gesis", "launch-host")
    # on mybinder.org the launch host is always the redirector: it tells nothing
    front = {"BINDER_LAUNCH_HOST": "https://mybinder.org/"}
    assert identify_member(front, MYBINDER) == (None, None)
    unknown = {"BINDER_LAUNCH_HOST": "https://binder.example.org/"}
    assert identify_member(unknown, MYBINDER) == (None, None)


def test_member_map_is_consulted_first_for_hosts() -> None:
    mapping = {"hub.example.org": "hetzner-gesis", "registry.bids.mybinder.org": "renamed"}
    hub = {"JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/hub/"}
    assert identify_member(hub, MYBINDER, mapping) == ("hetzner-gesis", "hub-host")
    image = {"JUPYTER_IMAGE_SPEC": "registry.bids.mybinder.org/binder/r2d:1"}
    assert identify_member(image, MYBINDER, mapping) == ("renamed", "image-registry")
    launch = {"BINDER_LAUNCH_HOST": "https://binder.example.org/"}
    assert identify_member(launch, MYBINDER, {"binder.example.org": "x"}) == ("x", "launch-host")
    assert identify_member({}, MYBINDER, mapping) == (None, None)


#: two members on one host name, told apart by port (as the sandbox and the acceptance
#: servers run them on 127.0.0.1); both hubs are named by host only
TWO_ON_ONE_HOST = load_federation(
    {
        "name": "loopback",
        "redirector": "http://127.0.0.1:8000",
        "hosts": {
            "alpha": {
                "url": "http://127.0.0.1:8001",
                "weight": 1,
                "prime": True,
                "hub": "127.0.0.1",
                "registry": "127.0.0.1:5001",
            },
            "beta": {
                "url": "http://127.0.0.1:8002/",
                "weight": 1,
                "hub": "127.0.0.1",
                "registry": "127.0.0.1:5002",
            },
        },
    }
)


@pytest.mark.parametrize(
    ("environ", "found"),
    [
        # the hub host fits both members: it says nothing; the launch host names one exactly
        ({"JUPYTERHUB_PUBLIC_HUB_URL": "http://127.0.0.1:9002/hub/",
          "BINDER_LAUNCH_HOST": "http://127.0.0.1:8002/"}, ("beta", "launch-host")),
        ({"JUPYTERHUB_API_URL": "http://127.0.0.1:9001/hub/api",
          "BINDER_LAUNCH_HOST": "http://127.0.0.1:8001"}, ("alpha", "launch-host")),
        # the registry's host:port beats a bare host; the exact launch host beats both
        ({"JUPYTER_IMAGE_SPEC": "127.0.0.1:5002/r2d-abc:1",
          "JUPYTERHUB_PUBLIC_HUB_URL": "http://127.0.0.1:9001/hub/"}, ("beta", "image-registry")),
        ({"JUPYTER_IMAGE_SPEC": "127.0.0.1:5002/r2d-abc:1",
          "BINDER_LAUNCH_HOST": "http://127.0.0.1:8001/"}, ("alpha", "launch-host")),
        # the front door, another port, another scheme: no member, and no guess
        ({"JUPYTERHUB_PUBLIC_HUB_URL": "http://127.0.0.1:9002/hub/",
          "BINDER_LAUNCH_HOST": "http://127.0.0.1:8000/"}, (None, None)),
        ({"BINDER_LAUNCH_HOST": "http://127.0.0.1:8003/"}, (None, None)),
        ({"BINDER_LAUNCH_HOST": "https://127.0.0.1:8002/"}, (None, None)),
        ({"JUPYTER_IMAGE_SPEC": "127.0.0.1:5003/r2d-abc:1"}, (None, None)),
    ],
)  # fmt: skip
def test_two_members_on_one_host(
    environ: dict[str, str], found: tuple[str | None, str | None]
) -> None:
    assert identify_member(environ, TWO_ON_ONE_HOST) == found


def test_hub_host_and_port_tell_members_apart() -> None:
    data = TWO_ON_ONE_HOST.model_dump()
    data["hosts"]["alpha"]["hub"] = "http://127.0.0.1:9001"
    data["hosts"]["beta"]["hub"] = "127.0.0.1:9002"
    federation = load_federation(data)
    beta = {"JUPYTERHUB_PUBLIC_HUB_URL": "http://127.0.0.1:9002/hub/"}
    assert identify_member(beta, federation) == ("beta", "hub-host")
    alpha = {"JUPYTERHUB_API_URL": "http://127.0.0.1:9001/hub/api"}
    assert identify_member(alpha, federation) == ("alpha", "hub-host")
    # an exact hub URL beats a registry named by host and port
    mixed = {**alpha, "JUPYTER_IMAGE_SPEC": "127.0.0.1:5002/r2d:1"}
    assert identify_member(mixed, federation) == ("alpha", "hub-host")
    # the reader reports what the environment says, through the same rules
    reader = SessionInfoReader(
        federation, environ={**beta, "BINDER_LAUNCH_HOST": "http://127.0.0.1:8002/"},
        cgroup_root=None, status={}, process_root=os.getpid(),
    )  # fmt: skip
    assert (reader.read(now=NOW).member, reader.read(now=NOW).member_source) == (
        "beta",
        "launch-host",
    )


# --- links, refs, secrets ----------------------------------------------------------------


def test_ref_and_persistent_link() -> None:
    assert ref_of("v2/gh/org/repo/4f1ab2c", None) == "4f1ab2c"
    assert ref_of(None, "https://github.com/org/repo/tree/4f1ab2c") == "4f1ab2c"
    assert ref_of("v2/git/https%3A%2F%2Fexample.org%2Fr.git/a%2Fb", None) == "a/b"
    assert ref_of(None, None) is None
    assert (
        persistent_link("https://mybinder.org/", "v2/gh/org/repo/4f1ab2c")
        == "https://mybinder.org/v2/gh/org/repo/4f1ab2c"
    )
    assert (
        persistent_link("https://mybinder.org", "/v2/gh/o/r/1")
        == "https://mybinder.org/v2/gh/o/r/1"
    )
    assert persistent_link(None, "v2/gh/o/r/1") is None


def test_public_url_drops_credentials() -> None:
    assert public_url("https://user:s3cret@gitlab.example.org/g/r.git") == (
        "https://gitlab.example.org/g/r.git"
    )
    assert "s3cret" not in (public_url("https://example.org/r?token=s3cret") or "")
    assert public_url("") is None


# --- cgroup files ------------------------------------------------------------------------


def test_cgroup_v2_files(tmp_path: Path) -> None:
    write_v2(tmp_path, current=300 * MIB, inactive=20 * MIB, usec=1_500_000)
    layout = find_cgroup(tmp_path, proc_cgroup="0::/\n")
    assert layout == CgroupLayout(version=2, memory_dir=tmp_path, cpu_dir=tmp_path)
    reading = read_cgroup(layout)
    # working set: usage minus the inactive page cache (reclaimable)
    assert reading.memory_used == 280 * MIB
    assert reading.memory_limit is None  # "max"
    assert reading.cpu_seconds == 1.5
    (tmp_path / "memory.max").write_text(f"{1024 * MIB}\n")
    assert read_cgroup(layout).memory_limit == 1024 * MIB


def test_cgroup_v2_own_path_under_the_root(tmp_path: Path) -> None:
    """Without a cgroup namespace, the process's own folder is under the root."""
    write_v2(tmp_path, current=9 * MIB)
    own = write_v2(tmp_path / "kubepods" / "pod1" / "c1", current=100 * MIB, limit=str(512 * MIB))
    layout = find_cgroup(tmp_path, proc_cgroup="0::/kubepods/pod1/c1\n")
    assert layout is not None
    assert layout.memory_dir == own
    assert read_cgroup(layout).memory_limit == 512 * MIB
    # a path that does not exist under the root (namespaced view): the root itself
    assert find_cgroup(tmp_path, proc_cgroup="0::/elsewhere\n") == CgroupLayout(
        version=2, memory_dir=tmp_path, cpu_dir=tmp_path
    )


@pytest.mark.parametrize("cpu_dir", ["cpuacct", "cpu,cpuacct"])
def test_cgroup_v1_files(tmp_path: Path, cpu_dir: str) -> None:
    write_v1(tmp_path, usage=700 * MIB, inactive=50 * MIB, nsec=2_500_000_000, cpu_dir=cpu_dir)
    proc = "12:memory:/\n4:cpu,cpuacct:/\n0::/\n"
    layout = find_cgroup(tmp_path, proc_cgroup=proc)
    assert layout == CgroupLayout(
        version=1, memory_dir=tmp_path / "memory", cpu_dir=tmp_path / cpu_dir
    )
    reading = read_cgroup(layout)
    assert reading.memory_used == 650 * MIB
    assert reading.memory_limit is None  # PAGE_COUNTER_MAX: no limit
    assert reading.cpu_seconds == 2.5
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{2048 * MIB}\n")
    assert read_cgroup(layout).memory_limit == 2048 * MIB


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert find_cgroup(tmp_path, proc_cgroup="") is None
    assert find_cgroup(tmp_path / "missing", proc_cgroup="") is None


def test_stat_value() -> None:
    data = b"anon 5\ninactive_anon 7\ninactive_file 9\nfile 11"
    assert stat_value(data, "anon") == 5
    assert stat_value(data, "inactive_file") == 9
    assert stat_value(data, "file") == 11
    assert stat_value(data, "missing") is None
    assert stat_value(None, "anon") is None


def test_memory_limit_choice() -> None:
    gib = 1 << 30
    assert choose_memory_limit(2 * gib, None, 4 * gib, in_binder=True) == 2 * gib
    assert choose_memory_limit(2 * gib, gib, 4 * gib, in_binder=True) == gib  # cgroup lower
    assert choose_memory_limit(None, 3 * gib, 4 * gib, in_binder=False) == 3 * gib
    assert choose_memory_limit(None, None, 4 * gib, in_binder=True) == 4 * gib  # policy
    assert choose_memory_limit(None, None, 4 * gib, in_binder=False) is None


def test_warning_levels() -> None:
    assert memory_level(79, 100) == "ok"
    assert memory_level(80, 100) == "warning"
    assert memory_level(95, 100) == "danger"
    assert memory_level(50, 100, warn_fraction=0.5) == "warning"
    assert memory_level(None, 100) == memory_level(10, None) == "ok"
    assert time_level(601) == "ok"
    assert time_level(599) == "warning"
    assert time_level(119) == "danger"
    assert time_level(None) == time_level(5, []) == "ok"
    assert time_level(200, [5]) == "warning"
    # a threshold at or above the rule's whole length would always be on: left out
    assert time_level(540, [10, 2], budget=600) == "ok"  # mybinder.org's idle timeout
    assert time_level(100, [10, 2], budget=600) == "danger"
    assert time_level(540, [10, 2], budget=21_600) == "warning"
    assert time_level(5, [10, 2], budget=60) == "ok"
    assert time_level(300, [10, 10, 0]) == "warning"  # as the front end: deduplicated, > 0


def test_formatting() -> None:
    assert format_bytes(2 * (1 << 30)) == "2.0 GiB"
    assert format_bytes(812 * MIB) == "812 MiB"
    assert format_bytes(None) == "?"
    assert format_duration(0) == "0 s"
    assert format_duration(95) == "1 min 35 s"
    assert format_duration(1500) == "25 min"
    assert format_duration(21_600) == "6 h 00 min"


def test_status_times() -> None:
    assert parse_status_time("2026-11-21T12:00:00.123456Z") == NOW.replace(microsecond=123456)
    assert parse_status_time(NOW.replace(tzinfo=None)) == NOW  # naive: UTC
    assert parse_status_time("1970-01-01T00:00:00Z") is None  # api/status's "never started"
    assert parse_status_time("yesterday") is None
    assert parse_status_time(None) is None


# --- the reader --------------------------------------------------------------------------


def test_reading_inside_binder_with_cgroup_v2(tmp_path: Path) -> None:
    write_v2(
        tmp_path, current=1600 * MIB, limit=str(1800 * MIB), inactive=100 * MIB, usec=600_000_000
    )
    environ = {
        **BINDER_ENV,
        "JUPYTER_IMAGE_SPEC": "registry.gesis.mybinder.org/binder-prod/r2d-abc:4f1ab2c",
        "MEM_LIMIT": str(2048 * MIB),
        "MEM_GUARANTEE": "471859200",
        "CPU_LIMIT": "1.0",
    }
    status = {
        "started": "2026-11-21T11:00:00.000000Z",
        "last_activity": "2026-11-21T11:57:00.000000Z",
        "kernels": 1,
        "connections": 1,
    }
    reader = SessionInfoReader(environ=environ, cgroup_root=tmp_path, proc_cgroup="", status=status)
    info = reader.read(now=NOW)
    assert list(SessionInfo.model_fields) == WIRE_FIELDS
    assert list(info.model_dump(mode="json")) == WIRE_FIELDS + COMPUTED_FIELDS
    assert info.in_binder
    assert info.reason is None
    assert (info.member, info.member_source, info.federation) == (
        "hetzner-gesis",
        "image-registry",
        "mybinder",
    )
    assert info.repo_url == BINDER_ENV["BINDER_REPO_URL"]
    assert info.ref == "4f1ab2c"
    assert info.persistent_link == "https://mybinder.org/v2/gh/binder-examples/requirements/4f1ab2c"
    assert info.started == datetime(2026, 11, 21, 11, tzinfo=UTC)
    assert info.idle_seconds_left == 420.0
    assert info.max_age_seconds_left == 21_600.0 - 3600.0
    assert info.cpu_seconds_left == 3000.0
    # api/status counts kernels but does not list them: the server's own shutdown has no
    # later bound, the hub's culler gives one (600 + 300 + 660 s after the last activity)
    assert (info.seconds_left, info.cull_reason, info.cull_window) == (420.0, "idle", 660.0)
    assert (info.server_idle_seconds_left, info.seconds_left_latest) == (420.0, 1380.0)
    assert (info.kernels, info.kernel_stop) == (None, None)
    assert (info.memory_used, info.memory_source) == (1500 * MIB, "cgroup-v2")
    assert info.memory_limit == 1800 * MIB  # the cgroup's own limit is lower than MEM_LIMIT
    assert (info.memory_guarantee, info.cpu_limit) == (471859200, 1.0)
    assert info.memory_fraction == pytest.approx(1500 / 1800)
    assert info.memory_level == "warning"  # 83 %
    assert info.time_level == "ok"  # 7 min before an idle cull is the normal state
    assert (info.level, info.display.memory) == ("warning", "1.5 / 1.8 GiB")
    assert info.display.time == "7 min if nothing runs (stops from 12:07 UTC, up to 16 min later)"
    assert info.display.cause == (
        "the hub's culler stops servers idle for 10 min (it checks every 11 min and learns "
        "of activity every 5 min)"
    )
    assert info.display.summary == "hetzner-gesis · 7 min left if nothing runs · 1.5 / 1.8 GiB"
    assert info.display.warnings == [
        (
            "memory is close to the limit (1.5 / 1.8 GiB, 83%): past 1.8 GiB the kernel is "
            "killed and its variables are lost. Save your work and download it (Download my "
            "work); free memory (delete large variables) or restart the kernel."
        )
    ]


def test_a_reading_with_an_idle_kernel() -> None:
    """The kernels from `api/kernels`: the kernel culler's stop is reported apart, and the
    server's own shutdown comes about 600 + 600 s after the last activity."""
    status = {
        "started": "2026-11-21T11:00:00.000000Z",
        "last_activity": "2026-11-21T11:58:00.000000Z",
        "kernel_activity": [
            {"id": "k1", "last_activity": "2026-11-21T11:52:00.000000Z",
             "execution_state": "idle", "connections": 1},
        ],
    }  # fmt: skip
    reader = SessionInfoReader(environ=BINDER_ENV, cgroup_root=None, status=status)
    info = reader.read(now=NOW)
    assert info.kernels == 1
    assert info.kernel_stop is not None
    assert (info.kernel_stop.earliest, info.kernel_stop.latest) == (120.0, 180.0)
    assert (info.cull_reason, info.seconds_left, info.seconds_left_latest) == (
        "server-idle",
        720.0,
        840.0,
    )
    assert [stop.reason for stop in info.stops] == ["server-idle", "idle", "max-age"]
    display = info.display
    assert display.kernel == (
        "your kernel stops in about 2 min if it stays idle, up to 1 min later "
        "(the session goes on; the kernel's variables are lost)"
    )
    assert display.cause == (
        "the kernel culler stops your idle kernel first, which counts as activity; then "
        "the Jupyter server stops itself after 10 min with no activity"
    )
    assert f"Kernel: {display.kernel}" in display.details
    assert display.warnings == []  # 2 min exactly: not under the 2-minute threshold
    later = reader.read(now=NOW + timedelta(seconds=30))
    assert later.display.warnings == [
        (
            "your kernel stops in about 1 min 30 s if it stays idle, up to 1 min later (the "
            "session goes on; the kernel's variables are lost): the kernel culler stops "
            "kernels idle for 10 min. Run a cell to keep it, or save what it holds (write "
            "results to files)."
        )
    ]
    assert later.display.time == (
        "11 min 30 s if nothing runs (stops from 12:12 UTC, up to 2 min later)"
    )


def test_json_round_trip(tmp_path: Path) -> None:
    write_v1(tmp_path, usage=100 * MIB)
    reader = SessionInfoReader(environ=BINDER_ENV, cgroup_root=tmp_path, proc_cgroup="", status={})
    info = reader.read(now=NOW)
    wire = json.loads(info.model_dump_json())
    assert wire["now"] == "2026-11-21T12:00:00Z"
    assert wire["memory_source"] == "cgroup-v1"
    assert wire["limits"]["idle_timeout"] == 600.0
    assert SessionInfo.model_validate(wire) == info
    # no server status: no idle or age figures, and the CPU budget alone decides
    assert (info.started, info.idle_seconds_left, info.cull_reason) == (None, None, "cpu")


def test_policy_fills_in_missing_variables(tmp_path: Path) -> None:
    reader = SessionInfoReader(
        environ={"BINDER_REQUEST": "v2/gh/o/r/HEAD"}, cgroup_root=None, status=None
    )
    info = reader.read()
    assert info.in_binder
    assert info.memory_limit == 2048 * MIB  # mybinder.org's policy
    assert (info.memory_guarantee, info.cpu_limit) == (450 * MIB, 1.0)
    assert info.member is None  # nothing says which member: no guess
    assert info.cpu_seconds_left is None
    assert info.seconds_left is None


def test_limits_overrides_and_federation_from_a_file(tmp_path: Path) -> None:
    reader = SessionInfoReader(limits={"idle_timeout": 60, "max_age": None}, status=None)
    assert reader.limits.idle_timeout == 60
    assert reader.limits.max_age is None
    assert reader.limits.mem_limit == 2048 * MIB  # the rest stays the federation's
    with pytest.raises(ValidationError):
        SessionInfoReader(limits={"idle_timeot": 60})
    assert SessionInfoReader(limits=SessionLimits(idle_timeout=5)).limits.idle_timeout == 5

    # the packaged member list, as a user would copy and edit it
    data = json.loads(
        (resources.files("binderfed_sdk") / "federations" / "mybinder.json").read_text()
    )
    data.update(name="tiny", limits={**data["limits"], "idle_timeout": 30})
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(data))
    env = {"BINDERFED_FEDERATION": str(path), **BINDER_ENV}
    info = SessionInfoReader(environ=env, status={"last_activity": NOW}, cgroup_root=None).read(
        now=NOW + timedelta(seconds=10)
    )
    assert (info.federation, info.idle_seconds_left) == ("tiny", 20.0)


def test_outside_binder(tmp_path: Path) -> None:
    write_v2(tmp_path, current=64 * MIB)
    calls: list[int] = []

    def status() -> dict[str, str]:
        calls.append(1)
        return {"started": "2026-11-21T11:00:00Z"}

    info = SessionInfoReader(environ={}, cgroup_root=tmp_path, proc_cgroup="", status=status).read()
    assert not info.in_binder
    assert info.reason is not None
    assert "BINDER_" in info.reason
    nothing = {
        "member", "member_source", "federation", "repo_url", "ref_url", "ref",
        "persistent_link", "launch_host", "started", "last_activity", "idle_seconds_left",
        "max_age_seconds_left", "cpu_seconds_left", "seconds_left", "cull_reason",
    }  # fmt: skip
    assert {name: getattr(info, name) for name in nothing} == dict.fromkeys(nothing)
    assert info.memory_used == 64 * MIB  # still useful
    assert info.memory_limit is None  # no policy outside Binder
    assert calls == []  # the server is not even asked


def test_read_session_info_outside_binder_uses_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in os.environ:
        if name.startswith(("BINDER_", "MEM_", "CPU_", "JUPYTERHUB_", "BINDERFED_")):
            monkeypatch.delenv(name)
    info = read_session_info(cgroup_root=None)
    assert not info.in_binder
    assert info.memory_source == "process-tree"
    assert info.memory_used is not None
    assert info.memory_used > 0


def test_psutil_fallback_matches_psutils_own_reading() -> None:
    """The process tree (this process and a child) measured by the reader, and by psutil
    directly, in the same test."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(30)"]
    )
    try:
        me = psutil.Process()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the child holds its 64 MiB
            if psutil.Process(child.pid).memory_info().rss > 64 * MIB:
                break
            time.sleep(0.05)
        reader = SessionInfoReader(environ={}, cgroup_root=None, process_root=os.getpid())
        info = reader.read()
        direct = sum(p.memory_info().rss for p in [me, *me.children(recursive=True)])
        assert info.memory_source == "process-tree"
        assert info.memory_used is not None
        assert abs(info.memory_used - direct) <= max(0.05 * direct, 8 * MIB)
        assert info.memory_used > me.memory_info().rss + 64 * MIB  # the child counts
        assert process_tree_rss(2**22 + 7) is None  # no such process
    finally:
        child.kill()
        child.wait(10)


def test_this_machines_cgroup_if_any() -> None:
    """Whatever this machine has: the reading agrees with the files read here directly."""
    layout = find_cgroup()
    if layout is None or layout.memory_dir is None:
        pytest.skip("no cgroup memory files on this machine")
    reading = read_cgroup(layout)
    if layout.version == 2:
        usage = int((layout.memory_dir / "memory.current").read_text())
        key = "inactive_file"
    else:
        usage = int((layout.memory_dir / "memory.usage_in_bytes").read_text())
        key = "total_inactive_file"
    stat = dict(
        line.split() for line in (layout.memory_dir / "memory.stat").read_text().splitlines()
    )
    expected = usage - int(stat.get(key, 0))
    assert reading.memory_used is not None
    assert abs(reading.memory_used - expected) <= max(0.1 * expected, 32 * MIB)


# --- finding the Jupyter server this process runs under -------------------------------------


def write_server_file(folder: Path, pid: int, url: str) -> None:
    info = {"pid": pid, "url": url, "token": "t0k", "base_url": "/", "version": "2.21.1"}
    (folder / f"jpserver-{pid}.json").write_text(json.dumps(info))


def test_a_kernel_finds_its_parent_server(tmp_path: Path) -> None:
    write_server_file(tmp_path, 4242, "http://127.0.0.1:8888/user/x/")
    write_server_file(tmp_path, os.getpid(), "http://127.0.0.1:9999/")
    found = find_parent_server({"JPY_PARENT_PID": "4242"}, tmp_path)
    assert found is not None
    assert found["url"] == "http://127.0.0.1:8888/user/x/"
    assert find_parent_server({"JPY_PARENT_PID": "4343"}, tmp_path) is None


def test_a_terminal_finds_the_only_live_server(tmp_path: Path) -> None:
    write_server_file(tmp_path, os.getpid(), "http://127.0.0.1:9999/")  # alive: this process
    write_server_file(tmp_path, 2**22 + 11, "http://127.0.0.1:7777/")  # no such process
    found = find_parent_server({}, tmp_path)
    assert found is not None
    assert found["url"] == "http://127.0.0.1:9999/"
    by_url = {"JUPYTER_SERVER_URL": "http://127.0.0.1:9999"}
    assert find_parent_server(by_url, tmp_path) == found
    assert find_parent_server({"JUPYTER_SERVER_URL": "http://elsewhere/"}, tmp_path) is None
    write_server_file(tmp_path, os.getppid(), "http://127.0.0.1:6666/")
    assert find_parent_server({}, tmp_path) is None  # two live servers: no guess


def test_no_server_to_ask(tmp_path: Path) -> None:
    status = JupyterServerStatus(environ={"JPY_PARENT_PID": "4242"}, runtime_dir=tmp_path)
    assert status() is None
    assert status.url is None
