"""The `binderfed_jupyter` server extension in a real Jupyter server (pytest-jupyter): its
answer under a Binder-like environment checked against the server's own `api/status` and
this machine's memory figures, authentication, outside Binder, configuration."""

from __future__ import annotations

import asyncio
import json
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil
import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from binderfed_sdk.insession._memory import find_cgroup, read_cgroup
from binderfed_sdk.insession._model import SessionInfo
from binderfed_sdk.insession._reader import fetch_session_info
from binderfed_sdk.insession._server import JupyterServerStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tornado.httpclient import HTTPResponse

    Fetch = Callable[..., Awaitable[HTTPResponse]]

pytest_plugins = ("pytest_jupyter.jupyter_server",)

MIB = 1 << 20
REPO = Path(__file__).resolve().parent.parent
SHA = "4f1ab2c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f"
BINDER_ENV = {
    "BINDER_REPO_URL": "https://github.com/binder-examples/requirements",
    "BINDER_REF_URL": f"https://github.com/binder-examples/requirements/tree/{SHA}",
    "BINDER_LAUNCH_HOST": "https://mybinder.org/",
    "BINDER_REQUEST": "v2/gh/binder-examples/requirements/HEAD",
    "BINDER_PERSISTENT_REQUEST": f"v2/gh/binder-examples/requirements/{SHA}",
    "MEM_LIMIT": str(1536 * MIB),
    "MEM_GUARANTEE": str(450 * MIB),
    "CPU_LIMIT": "0.5",
    "JUPYTER_IMAGE_SPEC": f"registry.gesis.mybinder.org/binder-prod/r2d-g5b5b759:{SHA[:12]}",
}
_OURS = ("BINDER", "MEM_", "CPU_", "JUPYTERHUB_", "JUPYTER_IMAGE", "JPY_PARENT_PID")


@pytest.fixture
def jp_server_config(request: pytest.FixtureRequest) -> Config:
    """The extension enabled, read afresh at every request; a test may add config with
    `@pytest.mark.parametrize("jp_server_config", [{...}], indirect=True)`."""
    extra: dict[str, Any] = dict(getattr(request, "param", {}))
    # capitalised keys are whole sections (ServerApp, MappingKernelManager)
    sections = {key: extra.pop(key) for key in list(extra) if key[:1].isupper()}
    server = sections.pop("ServerApp", {})
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}, **server},
            "BinderFedApp": {"status_cache_seconds": 0.0, **extra},
            **sections,
        }
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def binder_env(clean_env: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in BINDER_ENV.items():
        clean_env.setenv(name, value)
    return BINDER_ENV


async def get_json(jp_fetch: Fetch, *parts: str) -> dict[str, Any]:
    response = await jp_fetch(*parts, method="GET")
    assert response.code == 200
    answer: dict[str, Any] = json.loads(response.body)
    return answer


def server_url(serverapp: Any) -> str:
    return f"http://127.0.0.1:{serverapp.port}{serverapp.base_url}"


async def test_session_in_binder(jp_fetch: Fetch, jp_serverapp: Any, binder_env: Any) -> None:
    status = await get_json(jp_fetch, "api", "status")
    response = await jp_fetch("binderfed", "session", method="GET")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    text = response.body.decode()
    info = SessionInfo.model_validate_json(text)

    assert info.in_binder
    assert info.reason is None
    assert (info.member, info.member_source, info.federation) == (
        "hetzner-gesis",
        "image-registry",
        "mybinder",
    )
    assert info.repo_url == BINDER_ENV["BINDER_REPO_URL"]
    assert info.ref_url == BINDER_ENV["BINDER_REF_URL"]
    assert info.ref == SHA
    assert info.persistent_link == f"https://mybinder.org/v2/gh/binder-examples/requirements/{SHA}"
    assert info.launch_host == "https://mybinder.org/"
    assert info.memory_guarantee == 450 * MIB
    assert info.cpu_limit == 0.5
    assert info.cull_window == 660.0
    assert info.warn_memory_fraction == 0.8
    assert info.warn_minutes == [10, 2]

    # times: exactly the server's own record, as its api/status gives it
    started = datetime.fromisoformat(status["started"])
    last_activity = datetime.fromisoformat(status["last_activity"])
    assert info.started == started
    assert info.last_activity == last_activity
    assert timedelta(0) <= info.now - last_activity < timedelta(seconds=30)
    idle = max(0.0, 600.0 - (info.now - last_activity).total_seconds())
    age = max(0.0, 21_600.0 - (info.now - started).total_seconds())
    assert info.idle_seconds_left == pytest.approx(idle, abs=1e-6)
    assert info.max_age_seconds_left == pytest.approx(age, abs=1e-6)

    check_machine_figures(info)

    # the levels and the words are in the answer, as computed by the SDK: the status bar
    # shows them as they are
    wire = json.loads(text)
    assert wire["display"] == info.display.model_dump(mode="json")
    assert wire["display"]["summary"].startswith("hetzner-gesis · ")
    assert re.fullmatch(r"\d+(\.\d)?( [KMG]iB)? / \d+(\.\d)? [KMG]iB", wire["display"]["memory"])
    assert {wire["level"], wire["time_level"], wire["memory_level"]} <= {"ok", "warning", "danger"}
    assert wire["level"] == info.level
    if info.cull_reason == "idle":  # a 600 s idle timeout: only the 2-minute threshold applies
        assert wire["time_thresholds"] == [{"minutes": 2, "level": "danger"}]

    # no secret in the answer
    assert jp_serverapp.identity_provider.token not in text


def check_machine_figures(info: SessionInfo) -> None:
    """Memory and CPU against this machine's own figures, read here independently: the
    cgroup's when the answer says the cgroup is the session's own, else (no cgroup, or one
    shared with processes outside the server's tree: a note says which) the server's tree."""
    layout = find_cgroup()
    me = psutil.Process()  # the server runs in this process
    shared = [n for n in info.notes if n.startswith(("cgroup memory (", "cgroup CPU time ("))]
    if info.memory_source in {"cgroup-v1", "cgroup-v2"}:
        assert layout is not None
        assert layout.memory_dir is not None
        assert info.memory_source == f"cgroup-v{layout.version}"
        mine = read_cgroup(layout)
        assert mine.memory_used is not None
        assert info.memory_used is not None
        assert abs(info.memory_used - mine.memory_used) <= max(0.1 * mine.memory_used, 32 * MIB)
        limits = [1536 * MIB] + ([mine.memory_limit] if mine.memory_limit else [])
        assert info.memory_limit == min(limits)
    else:
        direct = sum(p.memory_info().rss for p in [me, *me.children(recursive=True)])
        assert info.memory_source == "process-tree"
        assert info.memory_used is not None
        assert abs(info.memory_used - direct) <= max(0.05 * direct, 16 * MIB)
        assert info.memory_limit == 1536 * MIB  # a shared cgroup's limit is not the session's
        if layout is not None and layout.memory_dir is not None:
            assert any(n.startswith("cgroup memory (") for n in shared), info.notes
    if layout is not None and layout.cpu_dir is not None:
        if any(n.startswith("cgroup CPU time (") for n in shared):
            used = 0.0
            for process in [me, *me.children(recursive=True)]:
                times = process.cpu_times()
                used += times.user + times.system + times.children_user + times.children_system
        else:
            used = read_cgroup(layout).cpu_seconds  # type: ignore[assignment]
        assert used is not None
        assert info.cpu_seconds_left == pytest.approx(max(0.0, 3600.0 - used), abs=2.0)
    else:
        assert info.cpu_seconds_left is None
    known = [
        (v, r)
        for v, r in (
            (info.idle_seconds_left, "idle"),
            (info.max_age_seconds_left, "max-age"),
            (info.cpu_seconds_left, "cpu"),
        )
        if v is not None
    ]
    assert info.seconds_left == min(v for v, _ in known)
    assert info.cull_reason == min(known, key=lambda pair: pair[0])[1]


async def test_polling_is_not_activity(jp_fetch: Fetch, binder_env: Any) -> None:
    before = (await get_json(jp_fetch, "api", "status"))["last_activity"]
    for _ in range(3):
        await get_json(jp_fetch, "binderfed", "session")
    after = await get_json(jp_fetch, "api", "status")
    assert after["last_activity"] == before
    info = await get_json(jp_fetch, "binderfed", "session")
    assert info["last_activity"] == after["last_activity"].replace("+00:00", "Z")


async def test_refused_without_auth(jp_fetch: Fetch, jp_serverapp: Any, binder_env: Any) -> None:
    # jp_fetch adds the token unless the header is given: an empty one means none
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("binderfed", "session", method="GET", headers={"Authorization": ""})
    assert refused.value.code == 403
    url = server_url(jp_serverapp) + "binderfed/session"
    async with httpx.AsyncClient(timeout=10) as client:
        anonymous = await client.get(url)
        wrong = await client.get(url, headers={"Authorization": "token not-the-token"})
        wrong_query = await client.get(url, params={"token": "not-the-token"})
        right = await client.get(
            url, headers={"Authorization": f"token {jp_serverapp.identity_provider.token}"}
        )
    assert (anonymous.status_code, wrong.status_code, wrong_query.status_code) == (403, 403, 403)
    assert "in_binder" not in anonymous.text
    assert right.status_code == 200
    assert right.json()["in_binder"] is True


async def test_outside_binder(jp_fetch: Fetch, clean_env: Any) -> None:
    info = SessionInfo.model_validate(await get_json(jp_fetch, "binderfed", "session"))
    assert not info.in_binder
    assert info.reason is not None
    assert "BINDER_" in info.reason
    assert (info.member, info.federation, info.persistent_link) == (None, None, None)
    assert (info.started, info.seconds_left, info.cull_reason) == (None, None, None)
    assert info.memory_used is not None
    assert info.memory_used > 0
    assert info.memory_source in {"cgroup-v1", "cgroup-v2", "process-tree"}


#: mybinder.org's values.yaml: the server stops itself after 600 s with no activity and no
#: kernel; kernels idle 600 s are culled, checked every 60 s, connected ones too
MYBINDER_SERVER = {
    "ServerApp": {"shutdown_no_activity_timeout": 600},
    "MappingKernelManager": {"cull_idle_timeout": 600, "cull_interval": 60, "cull_connected": True},
    # outside a pod the cgroup's CPU use is the whole machine's history, not this session's:
    # no CPU budget, so the idle rules under test decide what comes first
    "BinderFedApp": {"limits": {"cpu_seconds": None}},
}


async def start_kernel(jp_fetch: Fetch) -> dict[str, Any]:
    """A real kernel, started through the REST API (no client connects: it stays
    "starting", which the kernel culler counts as idle)."""
    response = await jp_fetch("api", "kernels", method="POST", body="{}")
    kernel: dict[str, Any] = json.loads(response.body)
    assert kernel["execution_state"] in {"starting", "idle"}
    return kernel


async def quiet_kernel(jp_fetch: Fetch, kernel_id: str) -> dict[str, Any]:
    """The kernel's model once its start-up messages are over (last_activity still for
    0.5 s)."""
    before = await get_json(jp_fetch, "api", "kernels", kernel_id)
    for _ in range(20):  # bounded: 10 s
        await asyncio.sleep(0.5)
        now = await get_json(jp_fetch, "api", "kernels", kernel_id)
        if now["last_activity"] == before["last_activity"]:
            return now
        before = now
    raise AssertionError("the kernel kept being active")


@pytest.mark.parametrize("jp_server_config", [MYBINDER_SERVER], indirect=True)
async def test_an_idle_kernel_is_reported_apart(
    jp_fetch: Fetch, jp_serverapp: Any, binder_env: Any
) -> None:
    kernel = await quiet_kernel(jp_fetch, (await start_kernel(jp_fetch))["id"])
    info = SessionInfo.model_validate(await get_json(jp_fetch, "binderfed", "session"))
    assert (await get_json(jp_fetch, "api", "kernels", kernel["id"])) == kernel  # still
    # the server's own settings, read in-process
    limits = info.limits
    assert (limits.server_idle_timeout, limits.kernel_idle_timeout) == (600, 600)
    assert (limits.kernel_cull_every, limits.kernel_cull_connected) == (60, True)
    assert info.kernels == 1
    # the kernel culler: 600 s after the kernel's own last activity, at a check every 60 s
    kernel_activity = datetime.fromisoformat(kernel["last_activity"])
    for_kernel = 600.0 - (info.now - kernel_activity).total_seconds()
    assert info.kernel_stop is not None
    assert info.kernel_stop.earliest == pytest.approx(for_kernel, abs=0.5)
    assert info.kernel_stop.latest == pytest.approx(for_kernel + 60.0, abs=0.5)
    # the server stops itself 600 s after that cull (it counts as activity): first of all
    assert info.cull_reason == "server-idle"
    assert info.seconds_left == pytest.approx(for_kernel + 600.0, abs=0.5)
    assert info.seconds_left_latest == pytest.approx(for_kernel + 60.0 + 660.0, abs=0.5)
    display = info.display
    assert display.kernel is not None
    assert display.kernel.startswith("your kernel stops in about 9 min ")
    assert display.kernel.endswith("(the session goes on; the kernel's variables are lost)")
    assert f"Kernel: {display.kernel}" in display.details
    assert display.cause is not None
    assert display.cause.startswith("the kernel culler stops your idle kernel first")
    assert display.summary.startswith("hetzner-gesis · 19 min ")


@pytest.mark.parametrize(
    "jp_server_config",
    [{"MappingKernelManager": {"cull_idle_timeout": 2, "cull_interval": 1}}],
    indirect=True,
)
async def test_the_kernel_is_culled_within_the_predicted_window(
    jp_fetch: Fetch, jp_serverapp: Any, binder_env: Any
) -> None:
    """The real kernel culler, made quick: the kernel goes inside [earliest, latest]
    counted from the kernel's last activity as the server last showed it."""
    kernel = await start_kernel(jp_fetch)
    info = SessionInfo.model_validate(await get_json(jp_fetch, "binderfed", "session"))
    assert info.kernel_stop is not None
    assert info.kernel_stop.latest is not None
    assert info.kernel_stop.latest - info.kernel_stop.earliest == pytest.approx(1.0)
    seen = kernel
    for _ in range(100):  # bounded: 10 s
        listing = await jp_fetch("api", "kernels", method="GET")
        models = {k["id"]: k for k in json.loads(listing.body)}
        if kernel["id"] not in models:
            break
        seen = models[kernel["id"]]
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the kernel culler never stopped the kernel")
    # what the reading says, counted from the last activity the culler acted on
    last = datetime.fromisoformat(seen["last_activity"])
    earliest = last + timedelta(seconds=2)
    latest = last + timedelta(seconds=3)
    gone = datetime.now(info.now.tzinfo)
    # polled every 0.1 s: the cull came at most that much before we saw it
    assert earliest - timedelta(seconds=0.2) <= gone <= latest + timedelta(seconds=0.5)
    after = SessionInfo.model_validate(await get_json(jp_fetch, "binderfed", "session"))
    assert (after.kernels, after.kernel_stop, after.display.kernel) == (0, None, None)
    # the cull counted as the server's activity
    assert after.last_activity is not None
    assert after.last_activity >= earliest - timedelta(seconds=0.2)


@pytest.mark.parametrize(
    "jp_server_config",
    [
        {
            "limits": {"idle_timeout": 1200, "cpu_seconds": None},
            "member_map": {"hub.example.org": "hetzner-2i2c"},
            "warn_memory_fraction": 0.5,
            "warn_minutes": [30, 5],
        }
    ],
    indirect=True,
)
async def test_configuration(jp_fetch: Fetch, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    clean_env.setenv("JUPYTERHUB_PUBLIC_HUB_URL", "https://hub.example.org/hub/")
    info = SessionInfo.model_validate(await get_json(jp_fetch, "binderfed", "session"))
    assert (info.member, info.member_source) == ("hetzner-2i2c", "hub-host")
    assert info.limits.idle_timeout == 1200
    assert info.limits.max_age == 21_600  # not overridden: the federation's
    assert info.cpu_seconds_left is None
    assert info.idle_seconds_left is not None
    assert 600 < info.idle_seconds_left <= 1200
    assert info.cull_reason == "idle"
    assert (info.warn_memory_fraction, info.warn_minutes) == (0.5, [30, 5])
    assert info.memory_limit is not None  # policy (or cgroup): in Binder


@pytest.mark.parametrize("jp_server_config", [{"status_cache_seconds": 60.0}], indirect=True)
async def test_answers_are_cached(jp_fetch: Fetch, clean_env: pytest.MonkeyPatch) -> None:
    first = (await jp_fetch("binderfed", "session", method="GET")).body
    clean_env.setenv("BINDER_REPO_URL", "https://github.com/o/r")
    second = (await jp_fetch("binderfed", "session", method="GET")).body
    assert first == second  # within status_cache_seconds: the same reading


async def test_sdk_clients_against_the_server(
    jp_fetch: Fetch, jp_serverapp: Any, binder_env: Any
) -> None:
    """The SDK's HTTP readers (used by a kernel) against the real server; they are blocking,
    so they run in a thread while the server's loop answers (jp_fetch starts the listener)."""
    url, token = server_url(jp_serverapp), jp_serverapp.identity_provider.token
    info = await asyncio.to_thread(fetch_session_info, url, token)
    assert info is not None
    assert info.member == "hetzner-gesis"
    status = await asyncio.to_thread(JupyterServerStatus(url, token))
    assert status is not None
    assert datetime.fromisoformat(status["started"]) == info.started
    assert await asyncio.to_thread(fetch_session_info, url, "wrong") is None

    from binderfed_sdk.widget import SessionStatus  # noqa: PLC0415

    widget = await asyncio.to_thread(SessionStatus, endpoint=url, token=token, auto_refresh=False)
    try:
        assert widget.info is not None
        assert widget.info.member == "hetzner-gesis"
        assert "hetzner-gesis" in widget.header.value
    finally:
        widget.close()


def test_extension_points() -> None:
    import binderfed_jupyter  # noqa: PLC0415
    from binderfed_jupyter.app import BinderFedApp  # noqa: PLC0415

    points = binderfed_jupyter._jupyter_server_extension_points()
    assert points == [{"module": "binderfed_jupyter.app", "app": BinderFedApp}]
    assert BinderFedApp.name == "binderfed"
    assert binderfed_jupyter._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "binderfed-jupyterlab"}
    ]
    enable = REPO / "jupyter_ext/etc/jupyter/jupyter_server_config.d/binderfed_jupyter.json"
    assert json.loads(enable.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"binderfed_jupyter": True}}
    }


HOSTILE_ENVIRONMENTS = {
    "overflowing figures": {"MEM_LIMIT": "1e400", "MEM_GUARANTEE": "9" * 400, "CPU_LIMIT": "inf"},
    "nan and negatives": {"MEM_LIMIT": "nan", "MEM_GUARANTEE": "-1", "CPU_LIMIT": "-2"},
    "unparsable URLs": {
        "BINDER_LAUNCH_HOST": "http://[",
        "JUPYTER_IMAGE_SPEC": "http://[",
        "JUPYTERHUB_PUBLIC_URL": "http://[",
        "BINDER_PERSISTENT_REQUEST": "http://[",
        "BINDER_REF_URL": "http://[",
    },
    "a javascript: launch host": {"BINDER_LAUNCH_HOST": "javascript:alert(document.cookie)//"},
    "no federation": {"BINDERFED_FEDERATION": "no-such-federation"},
}


@pytest.mark.parametrize("case", HOSTILE_ENVIRONMENTS)
async def test_odd_environments_still_answer(
    jp_fetch: Fetch, binder_env: Any, clean_env: pytest.MonkeyPatch, case: str
) -> None:
    """Whatever the environment holds, the endpoint answers 200 JSON: what it cannot use is
    unknown, with a note saying why, and no link but an http(s) one is offered."""
    for name, value in HOSTILE_ENVIRONMENTS[case].items():
        clean_env.setenv(name, value)
    response = await jp_fetch("binderfed", "session", method="GET")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    answer = json.loads(response.body)
    info = SessionInfo.model_validate(answer)
    assert info.in_binder
    assert info.notes, "each value not used is reported"
    assert all(f"Not used: {note}" in info.display.details for note in info.notes)
    link = answer["persistent_link"]
    assert link is None or link.startswith(("http://", "https://"))
    assert "javascript" not in json.dumps({k: v for k, v in answer.items() if k != "notes"})
    if case == "overflowing figures":
        assert info.memory_limit is not None
        assert info.memory_limit < 1 << 63
        # (this machine's cgroup may have a note of its own: shared, not the session's)
        env_notes = [note for note in info.notes if not note.startswith("cgroup ")]
        assert [note.split(":")[0] for note in env_notes] == [
            "MEM_LIMIT",
            "MEM_GUARANTEE",
            "CPU_LIMIT",
        ]
    if case == "a javascript: launch host":
        assert (info.persistent_link, info.launch_host) == (None, None)
    if case == "no federation":
        assert info.federation == "mybinder"
