"""Hostile hubs: every answer that could exhaust or crash the client ends in a typed
`ProtocolError`, within a bounded time, with the connection closed and nothing else affected
(a federation's other members stay healthy)."""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
from typing import TYPE_CHECKING

import pytest
from wirehub import WireHub

from binderfed_sdk import FederationError, ProtocolError, StreamLimits
from binderfed_sdk.cli._main import main
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._config import load_federation
from binderfed_sdk.hub._client import BinderHub
from binderfed_sdk.hub._core import BuildStreamCore, JsonBody, parse_event, parse_json_answer
from binderfed_sdk.hub._session import Session
from binderfed_sdk.sandbox.redirector import Redirector

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

LIMITS = StreamLimits(idle_timeout=5.0, total_timeout=10.0)
DEEP = "[" * 100_000 + "]" * 100_000
#: time to the typed error: the stream limits above are never what ends these
BOUND = 2.0


#: credentials a test sent along with its hostile requests: none may ever show
SECRETS: list[str] = []


@pytest.fixture(autouse=True)
def no_secret_in_any_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every record of every logger, at DEBUG, while a hostile server is talked to."""
    SECRETS.clear()
    caplog.set_level(logging.DEBUG)
    yield
    assert not [secret for secret in SECRETS if secret in caplog.text]


@pytest.fixture
def hostile() -> Iterator[WireHub]:
    with WireHub(name="hostile", keepalive_interval=0.05) as hub:
        yield hub


def timed(call: Callable[[], object], match: str) -> float:
    started = time.monotonic()
    with pytest.raises(ProtocolError, match=match) as caught:
        call()
    elapsed = time.monotonic() - started
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert not [secret for secret in SECRETS if secret in shown]
    return elapsed


def wait_closed(hub: WireHub, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while hub.open_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.open_streams == 0, "the client left its connection open"


# --- the sans-I/O core ----------------------------------------------------------------------------


def test_deep_json_is_a_protocol_error_everywhere_it_is_parsed() -> None:
    event = '{"phase": "building", "message": "", "x": ' + DEEP + "}"
    with pytest.raises(ProtocolError, match="nested too deeply"):
        parse_event("http://h/", event)
    core = BuildStreamCore("http://h/", "build/gh/a/b/HEAD", limits=LIMITS)
    with pytest.raises(ProtocolError, match="nested too deeply"):
        core.on_event(event)
    with pytest.raises(ProtocolError, match="nested too deeply") as caught:
        parse_json_answer("http://h/", "health", 200, {}, DEEP.encode())
    assert caught.value.status_code == 200
    assert len(str(caught.value)) < 200  # sizes, never the data


def test_a_deeply_nested_member_list_is_a_federation_error(tmp_path: Path) -> None:
    members = tmp_path / "members.json"
    members.write_text(DEEP)
    with pytest.raises(FederationError, match="nested too deeply"):
        load_federation(members)


def test_event_limit_counts_all_lines_whatever_the_line_endings() -> None:
    limits = StreamLimits(max_line_bytes=1024, max_event_bytes=10 * 1024)
    for ending in (b"\n", b"\r", b"\r\n"):
        core = BuildStreamCore("http://h/", "build/gh/a/b/HEAD", limits=limits)
        line = b"data: " + b"x" * 500 + ending
        for _ in range(100):  # 100 events of 5 lines: each well under the limit
            core.on_bytes(line * 5 + ending)
        # a blank line split between two chunks still ends the event
        core.on_bytes(line * 15)
        core.on_bytes(ending)
        core.on_bytes(line * 15)
        with pytest.raises(ProtocolError, match="event larger than 10240"):
            core.on_bytes(line * 10)


def test_cr_only_stream_is_not_one_long_line() -> None:
    core = BuildStreamCore("http://h/", "build/gh/a/b/HEAD", limits=StreamLimits(max_line_bytes=64))
    for _ in range(1000):
        core.on_bytes(b'data: {"phase": "building"}\r\r')


def test_json_body_counts_as_it_comes() -> None:
    body = JsonBody("http://h/", "versions", limit=1000)
    body.start({"content-type": "application/json"})
    for _ in range(10):
        body.feed(b"x" * 100)
    with pytest.raises(ProtocolError, match="larger than the limit of 1000 bytes"):
        body.feed(b"x")
    with pytest.raises(ProtocolError, match="larger than the limit"):
        JsonBody("http://h/", "versions", limit=1000).start({"content-length": "1001"})
    with pytest.raises(ProtocolError, match="Content-Encoding 'br'"):
        JsonBody("http://h/", "versions", limit=1000).start({"content-encoding": "br"})


# --- build streams from a real hostile hub ------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "match"),
    [
        ("gzip-bomb", "Content-Encoding 'gzip'"),
        ("many-line-event", "event larger than"),
        ("deep-json", "nested too deeply"),
    ],
)
def test_hostile_build_streams(hostile: WireHub, scenario: str, match: str) -> None:
    with BinderHub(hostile.url, limits=LIMITS) as hub:
        spec = f"gh/someone/{scenario}/HEAD"
        token = hostile.make_build_token(spec)
        SECRETS.append(token)
        stream = hub.build(spec, build_token=token)
        elapsed = timed(lambda: list(stream), match)
        assert token not in repr(stream) + repr(stream.core)
        wait_closed(hostile)
        # nothing else is affected: the same client builds on
        events = list(hub.build("gh/someone/instant/HEAD"))
    assert elapsed < BOUND
    assert events[-1].is_ready
    assert ("GET", "/build/gh/someone/" + scenario + "/HEAD") in [
        (method, path.partition("?")[0]) for method, path, _ in hostile.requests
    ]
    sent = next(headers for _, path, headers in hostile.requests if scenario in path)
    assert sent["Accept-Encoding"] == "identity"


def test_event_limit_is_a_setting(hostile: WireHub) -> None:
    # 64 MiB in 1 KiB lines: the default (2 MiB) and a smaller one both stop it early
    small = StreamLimits(idle_timeout=5.0, total_timeout=10.0, max_event_bytes=64 * 1024)
    with BinderHub(hostile.url, limits=small) as hub:
        elapsed = timed(
            lambda: list(hub.build("gh/someone/many-line-event/HEAD")), "larger than 65536"
        )
    assert elapsed < BOUND
    wait_closed(hostile)


# --- JSON answers -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["deep", "huge", "gzip"])
@pytest.mark.parametrize("endpoint", ["health", "versions", "repoproviders"])
def test_hostile_json_answers(hostile: WireHub, endpoint: str, kind: str) -> None:
    hostile.hostile_json = {endpoint: kind}
    hostile.hostile_json_bytes = 8 * 1024 * 1024
    limits = StreamLimits(idle_timeout=5.0, total_timeout=10.0, max_json_bytes=64 * 1024)
    match = {"deep": "nested too deeply", "huge": "larger than the limit", "gzip": "Encoding"}
    calls = {"health": BinderHub.health, "versions": BinderHub.versions}
    with BinderHub(hostile.url, limits=limits) as hub:
        call = calls.get(endpoint, BinderHub.providers)
        elapsed = timed(lambda: call(hub), match[kind])
        hostile.hostile_json = {}
        assert hub.versions().binderhub  # the client goes on
    assert elapsed < BOUND


def test_session_status_is_bounded(hostile: WireHub) -> None:
    hostile.hostile_json_bytes = 8 * 1024 * 1024
    for kind, match in [("huge", "larger than the limit"), ("deep", "nested too deeply")]:
        hostile.hostile_json = {"/user/x/api/status": kind}
        with Session(hostile.url + "user/x/", "secret-token") as session:
            session.max_json_bytes = 64 * 1024
            session.stopped = True  # nothing to shut down: it is no real session
            elapsed = timed(session.status, match)
        assert elapsed < BOUND


# --- federations: one broken member is that member's problem --------------------------------------


@pytest.fixture
def members() -> Iterator[dict[str, WireHub]]:
    servers = {name: WireHub(name=name, keepalive_interval=0.05) for name in ("a", "b", "bad")}
    for server in servers.values():
        server.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def federation_of(members: dict[str, WireHub]) -> dict[str, object]:
    hosts = {n: {"url": s.url, "weight": 50, "prime": n == "a"} for n, s in members.items()}
    return {"name": "hostile", "hosts": hosts}


BREAKAGES: list[tuple[str, Callable[[WireHub], None]]] = [
    ("deep health", lambda hub: hub.hostile_json.update(health="deep")),
    ("deep versions", lambda hub: hub.hostile_json.update(versions="deep")),
    ("huge health", lambda hub: hub.hostile_json.update(health="huge")),
    ("gzip versions", lambda hub: hub.hostile_json.update(versions="gzip")),
    ("javascript Location", lambda hub: hub.redirects.update(health="javascript:x")),
    ("garbage Location", lambda hub: hub.redirects.update(versions="http://[")),
]


@pytest.mark.parametrize(("what", "breakage"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_one_broken_member_is_reported_not_raised(
    members: dict[str, WireHub], what: str, breakage: Callable[[WireHub], None]
) -> None:
    del what
    breakage(members["bad"])
    limits = StreamLimits(idle_timeout=5.0, total_timeout=10.0, max_json_bytes=64 * 1024)
    with Federation(federation_of(members), limits=limits, timeout=5) as fed:
        started = time.monotonic()
        health = fed.health(timeout=3)
        assert time.monotonic() - started < BOUND
        assert health.healthy == ["a", "b"]
        bad = health.members["bad"]
        assert not bad.healthy
        assert bad.detail  # the reason, for people
        assert sorted(m.name for m in fed.route("gh/org/repo/HEAD")) == ["a", "b"]
        session = fed.launch("gh/someone/instant/HEAD")
        assert session.member in {"a", "b"}
        session.stopped = True  # a WireHub's sessions are not real servers


def test_redirector_keeps_checking_every_member(members: dict[str, WireHub]) -> None:
    members["bad"].hostile_json = {"health": "deep"}
    members["b"].redirects = {"versions": "javascript:x"}
    config = load_federation(
        {**federation_of(members), "check": {"period": 0.2, "failed_period": 0.2, "timeout": 2}}
    )
    with Redirector(config, check_period=0.2) as redirector:
        assert redirector.wait_checked(10)
        assert set(redirector.health) == {"a", "b", "bad"}
        assert redirector.healthy == ["a"]
        checks = redirector.checks
        members["b"].redirects = {}  # b recovers; the checks go on and see it
        deadline = time.monotonic() + 10
        while "b" not in redirector.healthy and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(redirector.healthy) == ["a", "b"]
        assert redirector.checks > checks


def test_cli_prints_no_traceback(members: dict[str, WireHub], tmp_path: Path) -> None:
    members["bad"].hostile_json = {"health": "deep", "versions": "deep"}
    members["b"].redirects = {"health": "javascript:x"}
    path = tmp_path / "fed.json"
    path.write_text(json.dumps(federation_of(members)))
    out, err = io.StringIO(), io.StringIO()
    main(["status", "--federation", str(path)], out=out, err=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    assert "RecursionError" not in out.getvalue() + err.getvalue()
    for name in ("a", "b", "bad"):
        assert name in out.getvalue()
    out, err = io.StringIO(), io.StringIO()
    code = main(["hub", members["bad"].url], out=out, err=err)
    assert code != 0
    assert err.getvalue().startswith("binderfed: error: ")
    assert "nested too deeply" in err.getvalue()
    assert "Traceback" not in err.getvalue()
