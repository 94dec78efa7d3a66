"""Tests of the WireHub test server itself, with plain httpx and raw sockets."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from wirehub import FIXTURE_BYTES, FIXTURE_PATH, WireHub, fixture_events, flood_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

SSE = {"Accept": "text/event-stream"}
READY_REPLACED = {"token", "url", "binder_launch_host", "message"}


@pytest.fixture
def hub() -> Iterator[WireHub]:
    with WireHub(keepalive_interval=0.05, hold_open=30.0) as server:
        yield server


@pytest.fixture
def client(hub: WireHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=10.0) as http:
        yield http


@pytest.fixture(autouse=True)
def _no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The server thread must not log errors (tracebacks of broken handlers)."""
    caplog.set_level(logging.WARNING, logger="tornado")
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    errors = [
        r
        for r in caplog.records
        if r.name.startswith(("tornado", "asyncio")) and r.levelno >= logging.ERROR
    ]
    assert not errors, [r.getMessage() for r in errors]


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def read_events(
    client: httpx.Client, path: str, *, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, list[dict[str, Any]], list[str]]:
    """Read a build stream until ``ready`` or ``failed`` (or its end), then close it."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    with client.stream("GET", path, headers=SSE if headers is None else headers) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[len("data: ") :])
                events.append(event)
                if str(event.get("phase", "")).lower() in {"ready", "failed"}:
                    break
            elif line.startswith(":"):
                comments.append(line)
    return response, events, comments


def raw_get(hub: WireHub, path: str, *, timeout: float = 5.0) -> bytes:
    """A GET over a raw socket; everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", hub.port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n"
            "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode()
        )
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
    return bytes(received)


# ------------------------------------------------------------------------------ fixture


@pytest.mark.skipif(FIXTURE_PATH is None, reason="shared fixture not found")
def test_embedded_fixture_copy_is_identical() -> None:
    from wirehub import _EMBEDDED_FIXTURE  # noqa: PLC0415

    assert FIXTURE_PATH is not None
    assert FIXTURE_PATH.read_bytes() == _EMBEDDED_FIXTURE == FIXTURE_BYTES


def test_fixture_replay(hub: WireHub, client: httpx.Client) -> None:
    response, events, _ = read_events(client, "build/gh/binder-examples/requirements/HEAD")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"

    expected = [json.loads(raw) for raw in fixture_events(FIXTURE_BYTES)]
    assert len(events) == len(expected) == 14
    assert events[:-1] == expected[:-1]
    ready, captured = events[-1], expected[-1]
    assert ready.keys() == captured.keys()
    assert {k: v for k, v in ready.items() if k not in READY_REPLACED} == {
        k: v for k, v in captured.items() if k not in READY_REPLACED
    }
    assert ready["phase"] == "ready"
    assert ready["url"] == f"{hub.url}user/x/"
    assert ready["binder_launch_host"] == hub.url
    assert ready["message"] == f"server running at {hub.url}user/x/\n"
    assert ready["token"] == hub.tokens[-1]
    assert ready["token"] != captured["token"]
    # the client closed the stream itself: the server notices
    assert wait_for(lambda: hub.open_streams == 0)


def test_fixture_replay_is_byte_exact(hub: WireHub) -> None:
    hub.hold_open = 0.0
    body = raw_get(hub, "/build/gh/binder-examples/requirements/HEAD")
    for raw in fixture_events(FIXTURE_BYTES)[:-1]:
        assert b"data: " + raw + b"\n\n" in body
    assert body.endswith(b"0\r\n\r\n")  # a complete chunked response after hold_open


def test_fresh_token_per_launch_and_jupyter_url(hub: WireHub, client: httpx.Client) -> None:
    hub.jupyter_url = "http://127.0.0.1:1/user/somebody/"
    _, first, _ = read_events(client, "build/gh/u/fixture/HEAD")
    _, second, _ = read_events(client, "build/gh/u/instant/main")
    assert first[-1]["url"] == second[-1]["url"] == hub.jupyter_url
    assert first[-1]["token"] != second[-1]["token"]
    assert hub.tokens[-2:] == [first[-1]["token"], second[-1]["token"]]
    assert set(second[-1]) == set(first[-1])
    assert second[-1]["binder_request"] == "v2/gh/u/instant/main"
    hub.jupyter_token = "real-server-token"
    _, third, _ = read_events(client, "build/gh/u/fixture/HEAD")
    assert third[-1]["token"] == hub.tokens[-1] == "real-server-token"


# -------------------------------------------------------------------- other endpoints


def test_versions_repoproviders_metrics_launch_page(hub: WireHub, client: httpx.Client) -> None:
    versions = client.get("versions")
    assert versions.status_code == 200
    assert versions.headers["access-control-allow-origin"] == "*"
    assert versions.json() == {
        "builder_info": {"build_image": "quay.io/jupyterhub/repo2docker:2025.08.0"},
        "binderhub": "1.0.0",
    }
    providers = client.get("api/repoproviders").json()
    assert {p["id"] for p in providers} >= {"gh", "git", "gl", "zenodo"}
    assert "binderhub_launch_count_total" in client.get("metrics").text
    assert client.get("nowhere").status_code == 404

    page = client.get("v2/gh/binder-examples/requirements/HEAD")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    config_text = page.text.split("window.pageConfig = ", 1)[1]
    token = json.JSONDecoder().raw_decode(config_text)[0]["buildToken"]
    assert hub.verify_build_token(token, "gh/binder-examples/requirements/HEAD")
    assert not hub.verify_build_token(token, "gh/binder-examples/requirements/main")


def test_versions_override() -> None:
    with WireHub(versions={"builder": "x", "binderhub": "0.2.0"}, name="custom") as hub:
        assert httpx.get(hub.url + "versions").json() == {"builder": "x", "binderhub": "0.2.0"}


def test_health(hub: WireHub, client: httpx.Client) -> None:
    ok = client.get("health")
    assert ok.status_code == 200
    body = ok.json()
    assert body["ok"] is True
    assert [c["service"] for c in body["checks"]] == [
        "Docker registry",
        "JupyterHub API",
        "Pod quota",
    ]
    assert body["checks"][2]["_ignore_failure"] is True
    assert client.head("health").status_code == 200

    hub.health_status = 503
    bad = client.get("health")
    assert bad.status_code == 503
    assert bad.json()["ok"] is False
    assert any(c["ok"] is False for c in bad.json()["checks"])
    assert client.head("health").status_code == 503

    hub.health_status = 200
    hub.health_checks = [{"service": "Docker registry", "ok": False}]
    assert client.get("health").status_code == 503


def test_html_mode(hub: WireHub, client: httpx.Client) -> None:
    hub.html_mode = True
    for path in ("versions", "health", "api/repoproviders", "build/gh/u/fixture/HEAD"):
        response = client.get(path, headers=SSE)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.text.startswith("<!DOCTYPE html>")


def test_delay_and_request_log(hub: WireHub, client: httpx.Client) -> None:
    hub.delay = 0.3
    start = time.perf_counter()
    assert client.get("versions?x=1", headers={"X-Probe": "yes"}).status_code == 200
    assert time.perf_counter() - start >= 0.3
    method, path, headers = hub.requests[-1]
    assert (method, path) == ("GET", "/versions?x=1")
    assert headers["X-Probe"] == "yes"


# ------------------------------------------------------------------- stream admission


def test_missing_accept_header_gives_400_failed_event(hub: WireHub, client: httpx.Client) -> None:
    response, events, _ = read_events(client, "build/gh/u/fixture/HEAD", headers={})
    assert response.status_code == 200
    assert events == [
        {"phase": "failed", "status_code": 400, "message": events[0]["message"]},
    ]
    assert events[0]["message"].endswith("\n")
    assert hub.requests[-1][2]["Accept"] == "*/*"  # httpx's default is not enough
    _, ok, _ = read_events(client, "build/gh/u/instant/HEAD")
    assert hub.requests[-1][2]["Accept"] == "text/event-stream"
    assert ok[-1]["phase"] == "ready"


def test_build_token(hub: WireHub, client: httpx.Client) -> None:
    spec = "gh/u/instant/HEAD"
    remaining = hub.rate_remaining
    good = hub.make_build_token(spec)
    _, events, _ = read_events(client, f"build/{spec}?build_token={good}")
    assert events[-1]["phase"] == "ready"
    assert hub.rate_remaining == remaining  # a valid token skips the rate limit

    bad_tokens = {
        "garbage": "not-a-jwt",
        "wrong aud": hub.make_build_token("gh/u/instant/main"),
        "expired": hub.make_build_token(spec, expires_in=-10),
        "wrong secret": hub.make_build_token(spec, secret=b"another secret" * 3),
        "unsigned": jwt.encode({"exp": time.time() + 60, "aud": spec}, "x" * 32)[:-5] + "AAAAA",
    }
    for label, token in bad_tokens.items():
        response, events, _ = read_events(client, f"build/{spec}?build_token={token}")
        assert response.status_code == 200, label
        assert events == [
            {"phase": "failed", "status_code": 403, "message": "Invalid build token\n"}
        ], label


def test_build_token_origin_check(hub: WireHub, client: httpx.Client) -> None:
    """With BinderHub's origin check on, a token is good only where its page was served."""
    hub.check_token_origin = True
    spec = "gh/u/instant/HEAD"
    here = client.get(f"v2/{spec}").text.split("window.pageConfig = ", 1)[1]
    token = json.JSONDecoder().raw_decode(here)[0]["buildToken"]
    _, events, _ = read_events(client, f"build/{spec}?build_token={token}")
    assert events[-1]["phase"] == "ready"
    elsewhere = hub.make_build_token(spec, origin="mybinder.org")
    _, events, _ = read_events(client, f"build/{spec}?build_token={elsewhere}")
    assert events == [{"phase": "failed", "status_code": 403, "message": "Invalid build token\n"}]
    headers = {**SSE, "Origin": "https://mybinder.org"}  # a page there, asking here
    _, events, _ = read_events(client, f"build/{spec}?build_token={elsewhere}", headers=headers)
    assert events[-1]["phase"] == "ready"


def test_build_only() -> None:
    for api_only in (False, True):
        with WireHub(api_only=api_only) as hub, httpx.Client(base_url=hub.url) as client:
            _, events, _ = read_events(client, "build/gh/u/fixture/HEAD?build_only=true")
            last = events[-1]
            if api_only:
                assert last["phase"] == "ready"
                assert "imageName" in last
                assert "url" not in last
                assert "token" not in last
            else:
                assert last == {
                    "phase": "failed",
                    "status_code": 400,
                    "message": "Build only mode is not enabled\n",
                }


def test_rate_limit(hub: WireHub, client: httpx.Client) -> None:
    hub.rate_remaining = 2
    seen = []
    for _ in range(2):
        response, events, _ = read_events(client, "build/gh/u/instant/HEAD")
        assert events[-1]["phase"] == "ready"
        assert response.headers["x-ratelimit-limit"] == "10"
        assert response.headers["x-ratelimit-reset"] == str(hub.rate_reset)
        seen.append(response.headers["x-ratelimit-remaining"])
    assert seen == ["1", "0"]

    # as BinderHub: HTTP 200, one `failed` event naming the window, and no headers (BinderHub
    # sets them only once a request is allowed)
    response, events, _ = read_events(client, "build/gh/u/instant/HEAD")
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("x-ratelimit-")]
    assert events == [
        {
            "phase": "failed",
            "status_code": 429,
            "message": "Rate limit exceeded. Try again in 3600 seconds.\n",
        }
    ]

    hub.rate_headers_on_refusal = True  # a hub (or proxy) that sends them anyway
    response, events, _ = read_events(client, "build/gh/u/instant/HEAD")
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == str(hub.rate_reset)
    assert events[0]["status_code"] == 429


# -------------------------------------------------------------------------- scenarios


def test_keepalive_comments(hub: WireHub, client: httpx.Client) -> None:
    comments = []
    with client.stream("GET", "build/gh/u/keepalive-only/HEAD", headers=SSE) as response:
        assert hub.open_streams == 1
        for line in response.iter_lines():
            assert not line.startswith("data:")
            if line:
                comments.append(line)
            if len(comments) == 3:
                break
    assert comments == [":keepalive"] * 3
    assert wait_for(lambda: hub.open_streams == 0)


def test_fixture_holds_connection_open_with_keepalives(hub: WireHub, client: httpx.Client) -> None:
    with client.stream("GET", "build/gh/u/fixture/HEAD", headers=SSE) as response:
        lines = response.iter_lines()
        for line in lines:
            if '"phase": "ready"' in line:
                break
        after_ready = [next(lines) for _ in range(4)]
    assert ":keepalive" in after_ready
    assert wait_for(lambda: hub.open_streams == 0)


def test_drop_and_truncated_close_the_connection(hub: WireHub) -> None:
    body = raw_get(hub, "/build/gh/u/drop/HEAD")
    assert body.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body.count(b"data: ") == 5
    assert b'"phase": "ready"' not in body
    assert not body.endswith(b"0\r\n\r\n")  # no final chunk: an unexpected close

    body = raw_get(hub, "/build/gh/u/truncated/HEAD")
    payload = body.split(b"\r\n\r\n", 1)[1]
    assert b"data: {" in payload
    assert b"\n\n" not in payload.split(b"data: ", 1)[1]
    assert wait_for(lambda: hub.open_streams == 0)


def test_failed_scenarios(hub: WireHub, client: httpx.Client) -> None:
    _, events, _ = read_events(client, "build/gh/u/failed-500/HEAD")
    assert [e["phase"] for e in events] == ["waiting", "failed"]
    assert events[-1] == {
        "phase": "failed",
        "status_code": 500,
        "message": "Internal Server Error\n",
    }
    _, events, _ = read_events(client, "build/gh/u/failed-429/HEAD")
    assert events[-1]["status_code"] == 429
    _, events, _ = read_events(client, "build/gh/u/failed-build/HEAD")
    assert events[-1] == {"phase": "failed", "message": "Build failed\n"}
    assert any(e["phase"] == "building" for e in events)
    _, events, _ = read_events(client, "build/gh/u/too-many-users/HEAD")
    assert "status_code" not in events[-1]
    assert events[-1]["message"].startswith("Too many users running")
    assert events[-1]["message"].endswith("Try again later.\n")


def test_retry_then_ok(hub: WireHub, client: httpx.Client) -> None:
    _, first, _ = read_events(client, "build/gh/u/retry-then-ok/HEAD?x=1")
    _, second, _ = read_events(client, "build/gh/u/retry-then-ok/HEAD?x=2")
    assert first == [{"phase": "failed", "status_code": 500, "message": "Internal Server Error\n"}]
    assert second[-1]["phase"] == "ready"
    assert hub.hits["/build/gh/u/retry-then-ok/HEAD"] == 2


def test_http_error_scenarios(hub: WireHub, client: httpx.Client) -> None:
    response = client.get("build/gh/u/http-429/HEAD", headers=SSE)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-limit" in response.headers
    for code in (404, 500, 502):
        response = client.get(f"build/gh/u/http-{code}/HEAD", headers=SSE)
        assert response.status_code == code
        assert response.headers["content-type"].startswith("text/html")
        assert "<html>" in response.text
    response = client.get("build/gh/u/html/HEAD", headers=SSE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_odd_streams(hub: WireHub, client: httpx.Client) -> None:
    hub.rate_remaining = 100
    with client.stream("GET", "build/gh/u/bad-json/HEAD", headers=SSE) as response:
        lines = [line for line in response.iter_lines() if line]
    assert "data: {not json" in lines
    assert json.loads(lines[-1][len("data: ") :])["phase"] == "ready"

    _, events, _ = read_events(client, "build/gh/u/no-phase/HEAD")
    assert any("phase" not in e for e in events)
    assert {"Pending", "Building"} <= {e.get("phase") for e in events}
    assert events[-1]["phase"] == "ready"

    with client.stream("GET", "build/gh/u/huge-line/HEAD", headers=SSE) as response:
        body = response.read()
    huge = max(body.split(b"\n"), key=len)
    assert len(huge) > 10 * 1024 * 1024
    assert len(json.loads(huge[len(b"data: ") :])["message"]) == 10 * 1024 * 1024
    assert b'"phase": "ready"' in body

    with client.stream("GET", "build/gh/u/flood-2000/HEAD", headers=SSE) as response:
        data = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert len(data) == 2001
    assert json.loads(data[0][6:]) == {
        "phase": "building",
        "message": "Step 1/2000 : RUN pip install --no-cache-dir -r requirements.txt\n",
    }
    assert [f"{line}\n\n".encode() for line in data[:-1]] == [
        flood_event(i, 2000) for i in range(1, 2001)
    ]
    assert json.loads(data[-1][6:])["phase"] == "ready"


def test_slow_stream_records_flush_times(hub: WireHub, client: httpx.Client) -> None:
    received: list[float] = []
    with client.stream("GET", "build/gh/u/slow-30/HEAD", headers=SSE) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(time.perf_counter())
                if '"phase": "ready"' in line:
                    break
    assert len(received) == 14
    assert wait_for(lambda: len(hub.flush_times) == 14)
    gaps = [b - a for a, b in zip(hub.flush_times, hub.flush_times[1:], strict=False)]
    assert min(gaps) >= 0.025
    # same process, same clock: each event arrives right after its flush (a client thread
    # can see the bytes a little before the server thread records, hence the tolerance)
    latencies = [r - f for r, f in zip(received, hub.flush_times, strict=True)]
    assert all(-0.01 < latency < 0.02 for latency in latencies), latencies


def test_other_providers_use_the_second_segment(hub: WireHub, client: httpx.Client) -> None:
    _, events, _ = read_events(client, "build/gist/someone/failed-502")
    assert events[-1]["status_code"] == 502
    _, events, _ = read_events(client, "build/gh/u/instant/feature/branch/x")
    assert events[-1]["binder_request"] == "v2/gh/u/instant/feature/branch/x"


# --------------------------------------------------------------------------- shutdown


def test_stop_with_open_streams_is_bounded() -> None:
    hub = WireHub(keepalive_interval=0.05)
    hub.start()
    port = hub.port
    sockets = []
    # flood-* and huge-line: the client does not read, so the server's writes are stuck
    scenarios = ("silent", "fixture", "keepalive-only", "flood-100000", "huge-line")
    for scenario in scenarios:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(
            f"GET /build/gh/u/{scenario}/HEAD HTTP/1.1\r\nHost: x\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        sockets.append(sock)
    # an idle keep-alive connection too
    idle = httpx.Client(base_url=hub.url)
    assert idle.get("versions").status_code == 200
    assert wait_for(lambda: hub.open_streams == len(scenarios))

    start = time.monotonic()
    hub.stop()
    assert time.monotonic() - start < 5.0
    assert not any(t.name == "wirehub-ioloop" for t in threading.enumerate())
    for sock in sockets:  # the server closed them: reads reach EOF
        sock.settimeout(2)
        with sock:
            while sock.recv(1 << 20):
                pass
    idle.close()
    with pytest.raises(OSError, match=r"refused|Errno"):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    hub.stop()  # idempotent


def test_restart_after_stop() -> None:
    hub = WireHub()
    with hub:
        first = hub.url
        assert httpx.get(first + "versions").status_code == 200
    with hub:
        assert httpx.get(hub.url + "health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(first + "versions")
