"""Where a `ready` event's session URL may send the session token, and what of it is shown.

Real servers on 127.0.0.1; "another origin" is `localhost`, another host name for the same
loopback, so a server there would see (and these tests would catch) anything sent to it.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_twins import Twin
from wirehub import WireHub

from binderfed_sdk import FederationError, ProtocolError, SessionOriginRefused, StreamLimits
from binderfed_sdk.cli._main import main
from binderfed_sdk.federation._config import MAX_FEDERATION_FILE_BYTES, load_federation
from binderfed_sdk.hub._core import check_session_url, session_origins
from binderfed_sdk.insession._member import public_url

if TYPE_CHECKING:
    from servers import JupyterServer

LIMITS = StreamLimits(idle_timeout=3, total_timeout=20)
SPEC = "gh/org/fixture/HEAD"


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(request.param)


def elsewhere(url: str) -> str:
    """The same server under another host name: another origin."""
    return url.replace("://127.0.0.1:", "://localhost:", 1)


# --- the rules, pure ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub", "url", "allow", "kept"),
    [
        # the served hub's host, any port, and its subdomains (mybinder.org's members)
        ("http://127.0.0.1:1/", "http://127.0.0.1:2/user/x/", False, "http://127.0.0.1:2/user/x/"),
        (
            "https://2i2c.mybinder.org/",
            "https://hub.2i2c.mybinder.org/user/x/",
            False,
            "https://hub.2i2c.mybinder.org/user/x/",
        ),
        # upgrading to https is fine
        ("http://a.org/", "https://a.org/u/", False, "https://a.org/u/"),
        # allowed by the caller: any, a host (any port), an origin
        ("https://a.org/", "https://b.org/u/", True, "https://b.org/u/"),
        ("http://127.0.0.1:1/", "http://10.0.0.1:2/u/", ["10.0.0.1:2"], "http://10.0.0.1:2/u/"),
        ("https://a.org/", "https://b.org:8443/u/", ["b.org"], "https://b.org:8443/u/"),
        ("https://a.org/", "https://B.org/u/", "https://b.org", "https://b.org/u/"),
        # userinfo, query and fragment are never kept
        (
            "https://a.org/",
            "https://alice:pw@a.org/user/x/?token=t0k&x=1#frag",
            False,
            "https://a.org/user/x/",
        ),
    ],
)
def test_accepted(hub: str, url: str, allow: bool | list[str] | str, kept: str) -> None:
    assert check_session_url(hub, url, allow=session_origins(allow)) == kept


@pytest.mark.parametrize(
    ("hub", "url", "allow", "reason"),
    [
        ("https://a.org/", "https://b.org/u/", False, "another origin"),
        # look-alikes of the hub's host are other hosts
        ("https://a.org/", "https://evila.org/u/", False, "another origin"),
        ("https://a.org/", "https://a.org.evil.com/u/", False, "another origin"),
        # a parent domain is not a subdomain
        ("https://2i2c.mybinder.org/", "https://mybinder.org/u/", False, "another origin"),
        # the listed port, scheme, host only
        ("http://127.0.0.1:1/", "http://10.0.0.1:2/u/", ["10.0.0.1:3"], "another origin"),
        ("https://a.org/", "https://b.org:8443/u/", ["https://b.org"], "another origin"),
        ("http://a.org/", "http://b.org/u/", ["https://b.org"], "another origin"),
        # never a downgrade, whatever is allowed
        ("https://a.org/", "http://a.org/u/", False, "plain http from an https hub"),
        ("https://a.org/", "http://b.org/u/", True, "plain http from an https hub"),
        ("https://a.org/", "http://b.org/u/", ["b.org", "http://b.org"], "plain http"),
    ],
)
def test_refused(hub: str, url: str, allow: bool | list[str], reason: str) -> None:
    with pytest.raises(SessionOriginRefused, match=reason) as caught:
        check_session_url(hub, url, allow=session_origins(allow))
    assert caught.value.hub == hub


@pytest.mark.parametrize("url", ["javascript:x", "ftp://a.org/", "http://", "http://a.org:99999/"])
def test_not_a_session_url(url: str) -> None:
    with pytest.raises(ProtocolError, match="not an http"):
        check_session_url("http://a.org/", url, allow=True)


# --- against a hub ------------------------------------------------------------------------------


def test_same_host_is_launched(twin: Twin, wirehub: WireHub, jupyter_server: JupyterServer) -> None:
    wirehub.jupyter_url, wirehub.jupyter_token = jupyter_server.url, jupyter_server.token

    async def scenario() -> None:
        async with (
            twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub,
            twin.within(await twin(hub.launch(SPEC))) as session,
        ):
            assert session.url == jupyter_server.url
            assert (await twin(session.status())).kernels == 0

    twin.run(scenario)


def test_another_origin_is_refused_and_sent_nothing(twin: Twin, wirehub: WireHub) -> None:
    with WireHub(name="elsewhere") as other:
        wirehub.jupyter_url = elsewhere(other.url) + "user/x/"

        async def scenario() -> None:
            async with twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub:
                with pytest.raises(SessionOriginRefused, match="another origin") as caught:
                    await twin(hub.launch(SPEC))
                assert caught.value.hub == wirehub.url

        twin.run(scenario)
        assert other.requests == []  # neither the token nor a shutdown went there
    assert wirehub.launch_count == 1


@pytest.mark.parametrize("allow", [True, ["localhost"]], ids=["any", "listed"])
def test_another_origin_when_allowed(
    twin: Twin, wirehub: WireHub, jupyter_server: JupyterServer, allow: object
) -> None:
    url = elsewhere(jupyter_server.url)
    wirehub.jupyter_url, wirehub.jupyter_token = url, jupyter_server.token

    async def scenario() -> None:
        hub_client = twin.BinderHub(wirehub.url, limits=LIMITS, allow_session_origins=allow)
        async with (
            twin.within(hub_client) as hub,
            twin.within(await twin(hub.launch(SPEC))) as session,
        ):
            assert session.url == url
            assert (await twin(session.status())).kernels == 0

    twin.run(scenario)  # a session's exit shuts its server down: one launch per server


def test_a_federation_allows_its_members_jupyterhub(
    twin: Twin, wirehub: WireHub, jupyter_server: JupyterServer
) -> None:
    """The member list names each member's JupyterHub (`hub`, a host as mybinder.org's)."""
    url = elsewhere(jupyter_server.url)
    wirehub.jupyter_url, wirehub.jupyter_token = url, jupyter_server.token
    host = url.removeprefix("http://").rstrip("/")

    def members(hub: str | None) -> object:
        member = {"url": wirehub.url, "weight": 1, "prime": True, "hub": hub}
        return load_federation({"name": "test", "hosts": {"a": member}})

    async def scenario(hub: str | None) -> None:
        async with twin.within(twin.Federation(members(hub), limits=LIMITS)) as fed:
            if hub is None:
                with pytest.raises(SessionOriginRefused):
                    await twin(fed.launch(SPEC, max_attempts=1))
                return
            async with twin.within(await twin(fed.launch(SPEC))) as session:
                assert (session.url, session.member) == (url, "a")

    twin.run(lambda: scenario(host))
    twin.run(lambda: scenario(None))


# --- nothing of the URL's credentials is shown ------------------------------------------------


def test_url_credentials_never_shown(
    twin: Twin,
    wirehub: WireHub,
    jupyter_server: JupyterServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wirehub.jupyter_token = jupyter_server.token
    wirehub.jupyter_url = (
        jupyter_server.url.replace("http://", "http://alice:pw-secret@", 1) + "?token=qs-secret&x=1"
    )

    async def scenario() -> str:
        async with (
            twin.within(twin.BinderHub(wirehub.url, limits=LIMITS)) as hub,
            twin.within(await twin(hub.launch(SPEC))) as session,
        ):
            assert session.url == jupyter_server.url
            # the token comes from the event's `token`, not from the URL's query
            assert session.token.get_secret_value() == jupyter_server.token
            assert "qs-secret" not in session.browser_url()
            await twin(session.status())  # the server takes it: the token is the right one
            return repr(session) + str(session.url)

    with caplog.at_level(logging.DEBUG):
        shown = twin.run(scenario)
    shown += caplog.text
    for secret in ("pw-secret", "qs-secret", "alice", jupyter_server.token):
        assert secret not in shown


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_never_shows_url_credentials(wirehub: WireHub, *, as_json: bool) -> None:
    wirehub.jupyter_url = f"http://alice:pw-secret@{wirehub.url[7:]}user/x/?token=qs-secret"
    out, err = io.StringIO(), io.StringIO()
    argv = ["launch", SPEC, "--hub", wirehub.url] + (["--json"] if as_json else [])
    assert main(argv, out=out, err=err) == 0
    text = out.getvalue() + err.getvalue()
    assert f"{wirehub.url}user/x/" in text
    for secret in ("pw-secret", "qs-secret", *wirehub.tokens):
        assert secret not in text


def test_cli_refuses_another_origin(wirehub: WireHub) -> None:
    wirehub.jupyter_url = elsewhere(wirehub.url) + "user/x/?token=qs-secret"
    out, err = io.StringIO(), io.StringIO()
    code = main(["launch", SPEC, "--hub", wirehub.url], out=out, err=err)
    text = out.getvalue() + err.getvalue()
    assert code == SessionOriginRefused.exit_code
    assert "another origin" in text
    assert "Traceback" not in text
    for secret in ("qs-secret", *wirehub.tokens):
        assert secret not in text


# --- the small leftovers --------------------------------------------------------------------


def test_public_url_masks_every_token_like_parameter() -> None:
    shown = public_url("https://bob:pw@h.org/x?access_token=a1&private_token=b2&auth_token=c3")
    assert shown is not None
    assert "bob" not in shown
    assert "pw" not in shown
    for secret in ("a1", "b2", "c3"):
        assert secret not in shown
    assert shown.startswith("https://h.org/x?")


def test_a_member_list_file_is_capped(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as file:
        file.write(b'{"hosts": {}, "pad": "')
        file.write(b"x" * MAX_FEDERATION_FILE_BYTES)
        file.write(b'"}')
    with pytest.raises(FederationError, match="larger than"):
        load_federation(big)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(FederationError, match="UTF-8"):
        load_federation(bad)


def test_an_endless_device_is_not_a_member_list() -> None:
    if not Path("/dev/zero").exists():  # pragma: no cover - every Linux has it
        pytest.fail("/dev/zero is missing")
    with pytest.raises(FederationError):
        load_federation("/dev/zero")
