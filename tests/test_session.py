"""Sessions against a real Jupyter server on 127.0.0.1, and launched through a WireHub."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import JupyterServer, free_port, start_jupyter_server
from wirehub import WireHub

from binderfed_sdk import (
    AsyncBinderHub,
    AsyncSession,
    BinderFedError,
    BinderHub,
    HubUnavailable,
    ProtocolError,
    Session,
    SessionError,
    SessionGone,
    StreamLimits,
)

if TYPE_CHECKING:
    from pathlib import Path


def test_status_reads_the_servers_own_record(jupyter_server: JupyterServer) -> None:
    before = datetime.now(UTC)
    with Session(jupyter_server.url, jupyter_server.token) as session:
        status = session.status()
        # cross-check with the server's own answer, read without the SDK
        raw = httpx.get(
            jupyter_server.url + "api/status",
            headers={"Authorization": f"token {jupyter_server.token}"},
        ).json()
        assert status.started == datetime.fromisoformat(raw["started"])
        assert status.started < before
        assert status.last_activity <= datetime.now(UTC) + timedelta(seconds=1)
        assert status.kernels == raw["kernels"] == 0
        assert status.connections == raw["connections"]
    # leaving the `with` shut the server down
    assert jupyter_server.process.wait(20) == 0


def test_bad_token_is_refused_and_not_shown(jupyter_server: JupyterServer) -> None:
    wrong = "not-the-token-abcdef"
    session = Session(jupyter_server.url, wrong)
    with pytest.raises(SessionError) as refused:
        session.status()
    assert refused.value.status_code == 403
    assert wrong not in str(refused.value)
    assert wrong not in repr(session)
    # the server is there: a refusal, not a gone session (for POST jupyter_server sends the
    # same xsrf page as a hub answering for a stopped server; its 403 JSON to GET decides)
    assert not isinstance(refused.value, SessionGone)
    with pytest.raises(SessionError, match="refused the token") as refused_shutdown:
        session.shutdown()
    assert not isinstance(refused_shutdown.value, SessionGone)
    assert not session.stopped
    assert jupyter_server.process.poll() is None  # still running
    session.close()


def test_shutdown_is_idempotent(jupyter_server: JupyterServer) -> None:
    session = Session(jupyter_server.url, jupyter_server.token)
    assert session.shutdown() is True
    assert jupyter_server.process.wait(20) == 0
    assert session.shutdown() is False  # already stopped: no request, no error
    other = Session(jupyter_server.url, jupyter_server.token)
    assert other.shutdown() is False  # gone: connection refused counts as already stopped


def test_unreachable_server_status() -> None:
    session = Session(f"http://127.0.0.1:{free_port()}/", "x", timeout=2)
    with pytest.raises(HubUnavailable, match="cannot reach"):
        session.status()
    session.close()


def test_async_session(jupyter_server: JupyterServer) -> None:
    async def scenario() -> None:
        async with AsyncSession(jupyter_server.url, jupyter_server.token) as session:
            status = await session.status()
            assert status.kernels == 0
        assert session.stopped

    asyncio.run(scenario())
    assert jupyter_server.process.wait(20) == 0


def test_launch_through_a_hub_to_a_real_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """WireHub answers `ready` with a real Jupyter server's URL and token."""
    caplog.set_level(logging.DEBUG)
    server = start_jupyter_server(tmp_path)
    try:
        with WireHub(keepalive_interval=0.05) as hub_server:
            hub_server.jupyter_url = server.url
            hub_server.jupyter_token = server.token
            limits = StreamLimits(idle_timeout=5, total_timeout=30)
            with BinderHub(hub_server.url, limits=limits) as hub:
                with hub.launch("gh/someone/fixture/HEAD", urlpath="lab") as session:
                    assert session.status().kernels == 0
                    assert session.browser_url().startswith(server.url + "lab?token=")
                assert server.process.wait(20) == 0
        assert server.token not in caplog.text
    finally:
        server.stop()


def test_async_launch_through_a_hub(tmp_path: Path) -> None:
    server = start_jupyter_server(tmp_path)

    async def scenario() -> None:
        with WireHub(keepalive_interval=0.05) as hub_server:
            hub_server.jupyter_url = server.url
            hub_server.jupyter_token = server.token
            async with (
                AsyncBinderHub(hub_server.url) as hub,
                await hub.launch("gh/someone/fixture/HEAD") as session,
            ):
                assert (await session.status()).connections >= 0

    try:
        asyncio.run(scenario())
        assert server.process.wait(20) == 0
    finally:
        server.stop()


def test_info_from_the_servers_extension(tmp_path: Path) -> None:
    """`Session.info()` reads the binderfed server extension of a real server, typed."""
    env = {"BINDER_REPO_URL": "https://github.com/org/repo", "BINDERFED_MEMBER": "gesis",
           "BINDER_LAUNCH_HOST": "https://mybinder.org/", "MEM_LIMIT": str(2**31)}  # fmt: skip
    args = ["--ServerApp.jpserver_extensions=binderfed_jupyter=True"]
    server = start_jupyter_server(tmp_path / "with", env=env, args=args)
    try:
        with Session(server.url, server.token) as session:
            info = session.info()
            assert info.in_binder
            assert info.member == "gesis"
            assert info.memory_limit == 2**31
            assert info.started == session.status().started  # the server's own record
    finally:
        server.stop()
    args = ["--ServerApp.jpserver_extensions=binderfed_jupyter=False"]
    bare = start_jupyter_server(tmp_path / "without", args=args)
    try:
        with Session(bare.url, bare.token) as session, pytest.raises(SessionError) as missing:
            session.info()
        assert missing.value.status_code == 404
        assert "no binderfed server extension" in str(missing.value)
    finally:
        bare.stop()


def test_a_redirect_to_an_unparsable_location_is_a_typed_error() -> None:
    """A session's server (or whatever answers in its place) redirecting to a Location httpx
    cannot parse: `status()` raises a `BinderFedError`, never httpx's own exception, and
    `shutdown()` treats the session as gone."""
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    class Handler(http.server.BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            self.send_response(302)
            self.send_header("Location", "javascript:x")  # httpx raises InvalidURL on it
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _redirect  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/user/x/"
        session = Session(url, "secret-token")
        with pytest.raises(ProtocolError) as caught:
            session.status()
        assert isinstance(caught.value, BinderFedError)
        assert "secret-token" not in str(caught.value)
        assert session.shutdown() is False
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
