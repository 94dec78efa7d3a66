"""Nothing that grants access is shown: not in any log record (DEBUG, every logger), repr or
exception text. Against real servers: a WireHub and a real Jupyter server, which answers a
token with a `Set-Cookie` login cookie (enough, alone, to read and write the session's files)."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from typing import TYPE_CHECKING

import httpx
import pytest
from servers import free_port, start_jupyter_server
from wirehub import WireHub

from binderfed_sdk import (
    AsyncBinderHub,
    BinderFedError,
    BinderHub,
    BuildFailed,
    HubUnavailable,
    RetryPolicy,
    StreamLimits,
    StreamTimeout,
)
from binderfed_sdk._redact import MASK, RedactSecrets, redact

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

LIMITS = StreamLimits(idle_timeout=5.0, total_timeout=30.0)
RETRY = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02)
SPEC = "gh/someone/fixture/HEAD"


class _Everything(logging.Handler):
    """Keeps every record as a handler would write it (message, exception text, stack)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def every_record(caplog: pytest.LogCaptureFixture) -> Iterator[_Everything]:
    """DEBUG for every logger (the root and each one that exists), all records captured."""
    caplog.set_level(logging.DEBUG)
    root = logging.getLogger()
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    levels = {logger: logger.level for logger in [root, *loggers]}
    handler = _Everything()
    root.addHandler(handler)
    for logger in levels:
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


def shown(error: BaseException) -> str:
    """Everything an exception shows: its text and chain, as a traceback prints them."""
    return "".join(traceback.format_exception(error))


def assert_hidden(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        assert secret
        for text in texts:
            assert secret not in text


def assert_cookies_masked(text: str) -> None:
    """Every `Set-Cookie` httpcore logged has its value masked."""
    values = re.findall(r"\(b'Set-Cookie', b['\"]([^'\"]*)['\"]\)", text, re.IGNORECASE)
    assert values  # the server did set its login cookie, and httpcore did log it ...
    assert set(values) == {MASK}  # ... masked


def test_build_launch_status_shutdown_show_no_credential(
    tmp_path: Path, every_record: _Everything
) -> None:
    server = start_jupyter_server(tmp_path)
    try:
        with WireHub(keepalive_interval=0.05) as hub_server:
            hub_server.jupyter_url, hub_server.jupyter_token = server.url, server.token
            build_token = hub_server.make_build_token(SPEC)
            with BinderHub(hub_server.url, limits=LIMITS, retry=RETRY) as hub:
                stream = hub.build(SPEC, build_token=build_token)
                events = list(stream)
                assert events[-1].is_ready
                shown_objects: list[object] = [hub, stream, stream.core, hub.rate_limit, *events]
                session = hub.launch(SPEC, build_token=build_token)
                assert session.status().kernels == 0
                # the server answered the token with its login cookie; the session kept none
                assert "set-cookie" in every_record.text.lower()
                assert not session.client.cookies
                shown_objects.append(session)
                texts = [repr(thing) for thing in shown_objects]
                # a browser's way in: the token in the URL, the cookie in the answer (httpx's
                # INFO line and httpcore's DEBUG lines, both ours to mask)
                browser = httpx.get(session.browser_url("api/status"), timeout=10)
                assert browser.status_code == 200
                cookies = [value for _, value in browser.cookies.items()]
                assert cookies
                assert session.shutdown()
                assert server.process.wait(20) == 0
                with pytest.raises(BinderFedError) as gone:
                    session.status()
                texts.append(shown(gone.value))
                with pytest.raises(BuildFailed) as refused:  # a token for another spec
                    list(hub.build(SPEC, build_token=hub_server.make_build_token("gh/a/b/HEAD")))
                texts.append(shown(refused.value))
        secrets = [build_token, server.token, *cookies]
        assert "build_token=" + MASK in every_record.text  # httpx's request line, masked
        assert_cookies_masked(every_record.text)
        assert_hidden(secrets, every_record.text, *texts)
        assert {"httpx", "httpcore.http11", "httpcore.connection"} <= every_record.names
    finally:
        server.stop()


def test_async_session_keeps_no_login_cookie(tmp_path: Path, every_record: _Everything) -> None:
    server = start_jupyter_server(tmp_path)

    async def scenario() -> None:
        with WireHub(keepalive_interval=0.05) as hub_server:
            hub_server.jupyter_url, hub_server.jupyter_token = server.url, server.token
            async with (
                AsyncBinderHub(hub_server.url, limits=LIMITS) as hub,
                await hub.launch(SPEC) as session,
            ):
                await session.status()
                await session.status()
                assert not session.client.cookies
                assert server.token not in repr(session)

    try:
        asyncio.run(scenario())
        assert_cookies_masked(every_record.text)
        assert server.token not in every_record.text
    finally:
        server.stop()


def test_transport_errors_do_not_chain_the_request(every_record: _Everything) -> None:
    """httpx's errors carry the request, whose URL holds the build token: never chained."""
    token = "build-token-that-must-not-show"
    nowhere = f"http://127.0.0.1:{free_port()}/"
    with (
        BinderHub(nowhere, limits=LIMITS, retry=RETRY) as hub,
        pytest.raises(HubUnavailable) as refused,
    ):
        list(hub.build(SPEC, build_token=token))
    with WireHub(keepalive_interval=10.0) as hub_server:
        silent = StreamLimits(idle_timeout=0.3, total_timeout=5.0)
        valid = hub_server.make_build_token("gh/someone/silent/HEAD")
        with (
            BinderHub(hub_server.url, limits=silent, retry=RETRY) as hub,
            pytest.raises(StreamTimeout) as timed_out,
        ):
            list(hub.build("gh/someone/silent/HEAD", build_token=valid))
    for error in (refused.value, timed_out.value):
        assert error.__cause__ is None
        assert error.__suppress_context__
        assert_hidden([token, valid], shown(error), repr(error))
    assert "build_token=" + MASK in every_record.text
    assert_hidden([token, valid], every_record.text)


def test_a_front_doors_redirect_shows_no_build_token(every_record: _Everything) -> None:
    """mybinder.org's redirector copies the query, build token included, into its Location."""
    with WireHub(keepalive_interval=0.05) as member, WireHub() as front_door:
        token = member.make_build_token(SPEC)
        front_door.redirects["build"] = f"{member.url}build/{SPEC}?build_token={token}"
        with BinderHub(front_door.url, limits=LIMITS, retry=RETRY) as hub:
            stream = hub.build(SPEC, build_token=token)
            assert list(stream)[-1].is_ready
            assert stream.core.redirect is not None
            assert stream.served_by == member.url
            assert_hidden([token], repr(stream.core), repr(stream.core.redirect), repr(hub))
    assert_hidden([token], every_record.text)


def test_every_logger_of_ours_and_httpxs_has_the_filter(wirehub: WireHub) -> None:
    """A filter on a parent logger is not consulted for its children's records: each logger
    that emits them has its own, those created later by httpcore's lazy imports included."""
    with BinderHub(wirehub.url) as hub:
        hub.versions()
    # made ready for httpcore's modules imported only for HTTP/2 and SOCKS (h2, socksio)
    assert {"httpcore.http2", "httpcore.socks"} <= set(logging.Logger.manager.loggerDict)
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.split(".")[0] in {"httpx", "httpcore", "binderfed"} and isinstance(
            logger, logging.Logger
        ):
            assert any(isinstance(f, RedactSecrets) for f in logger.filters), name


def test_an_exception_logged_with_its_traceback_is_masked(every_record: _Everything) -> None:
    try:
        msg = "GET http://hub/build/x?build_token=abc.def failed"
        raise RuntimeError(msg)
    except RuntimeError:
        logging.getLogger("httpcore.http11").debug("failed", exc_info=True)
        logging.getLogger("binderfed").warning("stack", stack_info=True)
    assert "abc.def" not in every_record.text
    assert "RuntimeError" in every_record.text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /build/gh/a/b/HEAD?build_only=true&build_token=eyJ.x.y HTTP/1.1", "eyJ.x.y"),
        ("https://hub/x?access_token=AT1&urlpath=lab", "AT1"),
        ("https://hub/x?private_token=PT1", "PT1"),
        ("https://hub/x?auth_token=AU1", "AU1"),
        ("https://hub/x?a=1&_xsrf=XS1", "XS1"),
        ("https://hub/x?api_key=K1&client_secret=S1", "K1"),
        ("https://hub/x?api_key=K1&client_secret=S1", "S1"),
        ("https://hub/x?Password=P1", "P1"),
        ("https://hub/oauth_callback?code=C1&state=s", "C1"),
        ("https://user:PW1@hub/", "PW1"),
        ("[(b'Content-Type', b'json'), (b'Set-Cookie', b'username-h=\"2|1:0\"; Path=/')]", "2|1:0"),
        ("{'Authorization': 'token TK1', 'Accept': '*/*'}", "TK1"),
        ('{"cookie": "_xsrf=CK1; user=CK2"}', "CK2"),
        ("Authorization: Bearer BR1\r\nHost: hub", "BR1"),
        ("Set-Cookie: jupyterhub-session-id=SI1; HttpOnly", "SI1"),
        ("X-XSRFToken: XT1", "XT1"),
    ],
)
def test_redact(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        "https://hub/v2/gh/a/b/HEAD?urlpath=lab/tree/x.ipynb&labpath=y",
        "the server refused the token (HTTP 403)",
        "build: hub answered HTTP 503 (http://127.0.0.1:8000/)",
    ],
)
def test_redact_leaves_the_rest(text: str) -> None:
    assert redact(text) == text


def test_a_hub_url_with_a_password_is_shown_without_it() -> None:
    from binderfed_sdk import HubError, HubUnavailable  # noqa: PLC0415

    error = HubUnavailable("health: no answer", hub="https://user:s3cret@hub.example.org/")
    assert "s3cret" not in str(error)
    assert "user" not in str(error)
    assert error.hub == "https://hub.example.org/"
    assert "s3cret" not in repr(error)
    assert HubError("x", hub="http://[").hub == "http://["  # nothing to hide, left as given
    with pytest.raises(HubUnavailable) as caught:
        BinderHub("http://user:s3cret@127.0.0.1:9/").versions()
    assert "s3cret" not in str(caught.value)
