"""mybinder.org's front door, and rate limits as BinderHub sends them (issue 9, defects 1 and 3).

Against real servers on 127.0.0.1: the sandbox's `Redirector` is the front door (mybinder.org's
rules: `/build` answers 307 to a member with a sticky `host` cookie, everything else goes to the
prime), WireHubs are its members; a WireHub's `redirects` knob sends the Locations a real front
door never does, and its `tls` serves https for the scheme rules. Scenarios that both twins must
pass are written once (`Twin`, from test_twins).
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import ssl
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_twins import Twin
from wirehub import WireHub

from binderfed_sdk import (
    BinderHub,
    HubError,
    ProtocolError,
    RateLimit,
    RateLimited,
    RetryPolicy,
    SessionOriginRefused,
    StreamLimits,
)
from binderfed_sdk._format import format_try_again
from binderfed_sdk.cli._main import main
from binderfed_sdk.federation._config import FederationConfig, load_federation
from binderfed_sdk.hub._core import BuildStreamCore, build_redirect, rate_limit_reset
from binderfed_sdk.sandbox.redirector import Redirector

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from servers import JupyterServer

LIMITS = StreamLimits(idle_timeout=3, total_timeout=20)
RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
SPEC = "gh/org/fixture/HEAD"
SECRET = b"s" * 32  # the members' shared build-token secret, as a federation's


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(request.param)


def members_config(members: dict[str, WireHub]) -> FederationConfig:
    hosts = {
        name: {"url": hub.url, "weight": 50, "prime": i == 0}
        for i, (name, hub) in enumerate(members.items())
    }
    return load_federation({"name": "front-door", "hosts": hosts})


@pytest.fixture
def front_door() -> Iterator[tuple[Redirector, dict[str, WireHub]]]:
    """A redirector with mybinder.org's rules over two WireHub members (a is the prime)."""
    members = {
        name: WireHub(name=name, keepalive_interval=0.05, secret=SECRET) for name in ("a", "b")
    }
    for member in members.values():
        member.start()
    try:
        with Redirector(members_config(members), seed=7, check_period=60) as redirector:
            assert redirector.wait_checked()
            assert sorted(redirector.healthy) == ["a", "b"]
            yield redirector, members
    finally:
        for member in members.values():
            member.stop()


def build_requests(server: WireHub) -> list[tuple[str, dict[str, str]]]:
    return [(uri, headers) for _, uri, headers in server.requests if uri.startswith("/build/")]


def served(members: dict[str, WireHub], url: str) -> WireHub:
    (member,) = [m for m in members.values() if m.url == url]
    return member


# --- the front door ------------------------------------------------------------------------


def test_launch_through_the_front_door_names_the_member(
    twin: Twin,
    front_door: tuple[Redirector, dict[str, WireHub]],
    jupyter_server: JupyterServer,
) -> None:
    redirector, members = front_door
    for member in members.values():
        member.jupyter_url, member.jupyter_token = jupyter_server.url, jupyter_server.token
    hubs: list[str | None] = []

    async def scenario() -> tuple[str, str | None, str]:
        async with twin.within(twin.BinderHub(redirector.url, limits=LIMITS)) as hub:
            session = await twin(hub.launch(SPEC, on_event=lambda event: hubs.append(event.hub)))
            async with twin.within(session):
                assert (await twin(session.status())).kernels == 0
                return session.hub, session.front_door, hub.url

    member_url, front, hub_url = twin.run(scenario)
    member = served(members, member_url)  # a member's URL, not the front door's
    assert front == hub_url == redirector.url
    assert set(hubs) == {member_url}  # every event says who sent it
    assert len(hubs) > 3
    assert member.launch_count == 1
    assert sum(m.launch_count for m in members.values()) == 1
    assert sum(redirector.redirects.values()) == 1
    assert jupyter_server.process.wait(30) == 0  # leaving `with` shut it down, on the member


def test_the_build_token_goes_where_the_front_door_sends_it(
    front_door: tuple[Redirector, dict[str, WireHub]],
) -> None:
    redirector, members = front_door
    token = members["a"].make_build_token(SPEC)
    with BinderHub(redirector.url, limits=LIMITS, retry=RETRY) as hub:
        stream = hub.build(SPEC, build_token=token)
        phases = [event.phase for event in stream]
    assert phases[-1] == "ready"
    member = served(members, stream.served_by)
    [(uri, _)] = build_requests(member)
    # the redirector copies the request's query into its Location; the member checks the
    # token, so the per-IP limit was not applied there
    assert uri == f"/build/{SPEC}?build_token={token}"
    assert member.rate_remaining == member.rate_limit
    assert hub.rate_limit is None  # an answer with a valid token carries no rate headers


def test_the_callers_credentials_stay_with_the_front_door(
    front_door: tuple[Redirector, dict[str, WireHub]],
) -> None:
    redirector, members = front_door
    client = httpx.Client(auth=("user", "front-door-password"), cookies={"session": "front"})
    secrets = {"Authorization": "token front-door-token", "X-Api-Key": "front-door-key"}
    with client, BinderHub(redirector.url, client=client, headers=secrets, limits=LIMITS) as hub:
        for _ in range(2):  # the second time the front door's sticky cookie is in the jar
            stream = hub.build(SPEC)
            assert [event.phase for event in stream][-1] == "ready"
    member = served(members, stream.served_by)
    requests = build_requests(member)
    assert len(requests) == 2
    for _, headers in requests:
        names = {name.lower() for name in headers}
        # the jar ignores ports: the front door's `host` cookie and the caller's would go to a
        # member on the same host name if they were not dropped
        assert not names & {"authorization", "cookie", "x-api-key"}, headers
        assert headers["Accept"] == "text/event-stream"
        assert headers["User-Agent"] == "binderfed-sdk"
    assert "host" in client.cookies  # the front door's sticky cookie, for the front door
    # and the same member both times: the sticky cookie went back to the front door
    assert sum(count for (name, reason), count in redirector.redirects.items()) == 2
    assert [reason for (_, reason) in redirector.redirects] == ["random", "cookie"]


def test_json_endpoints_go_to_the_prime_without_a_redirect(
    front_door: tuple[Redirector, dict[str, WireHub]],
) -> None:
    redirector, members = front_door
    with BinderHub(redirector.url, limits=LIMITS, retry=RETRY) as hub:
        assert hub.health().ok
        assert hub.versions().binderhub

    def relayed(member: WireHub) -> list[str]:  # what the front door passed on for us
        return [
            uri
            for _, uri, headers in member.requests
            if headers.get("User-Agent", "").startswith("python-httpx")
        ]

    assert relayed(members["a"]) == ["/health", "/versions"]  # the prime
    assert relayed(members["b"]) == []


def test_redirects_elsewhere_stay_refused() -> None:
    with WireHub(keepalive_interval=0.05) as hub, WireHub(keepalive_interval=0.05) as target:
        hub.redirects = {"versions": target.url + "versions", "health": target.url + "health"}
        # even a client of the caller's that follows redirects
        client = httpx.Client(follow_redirects=True)
        with client, BinderHub(hub.url, client=client, retry=RETRY) as binderhub:
            for call in (binderhub.versions, binderhub.health):
                with pytest.raises(HubError) as refused:
                    call()
                assert refused.value.status_code == 307
        assert target.requests == []


def test_one_redirect_is_followed_not_two() -> None:
    with (
        WireHub(name="door", keepalive_interval=0.05) as door,
        WireHub(name="member", keepalive_interval=0.05) as member,
        WireHub(name="third", keepalive_interval=0.05) as third,
    ):
        door.redirects = {"build": member.build_url("org/fixture/HEAD")}
        member.redirects = {"build": third.build_url("org/fixture/HEAD")}
        with BinderHub(door.url, limits=LIMITS, retry=RETRY) as hub:
            stream = hub.build(SPEC)
            with pytest.raises(HubError) as refused:
                list(stream)
        assert refused.value.status_code == 307
        assert refused.value.hub == member.url  # the member answered the second one
        assert "not followed" in str(refused.value)
        assert len(build_requests(member)) == 1  # not retried either
        assert third.requests == []


@pytest.mark.parametrize(
    ("location", "error", "says"),
    [
        # httpx itself refuses to parse these two (it reads every Location)
        ("javascript:alert(document.cookie)", ProtocolError, "not a URL"),
        ("http://[::1", ProtocolError, "not a URL"),
        ("ftp://127.0.0.1/build/gh/org/fixture/HEAD", ProtocolError, "'ftp' URL"),
        ("http://user:pw@127.0.0.1:1/build/gh/org/fixture/HEAD", ProtocolError, "credentials"),
        ("/hub/login?next=/build/", ProtocolError, "away from a build stream"),
        (None, ProtocolError, "without a Location"),
    ],
)
def test_a_location_that_cannot_be_followed_is_a_typed_error(
    location: str | None, error: type[Exception], says: str
) -> None:
    with WireHub(keepalive_interval=0.05) as door:
        door.redirects = {"build": location}
        with BinderHub(door.url, limits=LIMITS, retry=RETRY) as hub, pytest.raises(error) as bad:
            list(hub.build(SPEC))
        assert type(bad.value) is error  # never an httpx exception
        assert says in str(bad.value)
        assert len(build_requests(door)) == 1  # a bad Location is not retried
        if location is not None and location.startswith("http://["):
            door.redirects = {"versions": location}  # nor is one on a JSON endpoint
            with BinderHub(door.url, retry=RETRY) as hub, pytest.raises(ProtocolError):
                hub.versions()


# --- schemes: a real TLS server on 127.0.0.1 ------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) for a self-signed certificate of 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def test_a_downgrade_to_http_is_never_followed(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_tls, client_tls = tls
    with (
        WireHub(name="door", keepalive_interval=0.05, tls=server_tls) as door,
        WireHub(name="member", keepalive_interval=0.05) as member,
    ):
        assert door.url.startswith("https://")
        door.redirects = {"build": member.build_url("org/fixture/HEAD")}
        client = httpx.Client(verify=client_tls)
        with client, BinderHub(door.url, client=client, limits=LIMITS, retry=RETRY) as hub:
            token = member.make_build_token(SPEC)
            with pytest.raises(HubError) as refused:
                list(hub.build(SPEC, build_token=token))
        assert "a downgrade is never followed" in str(refused.value)
        assert token not in str(refused.value)
        assert member.requests == []  # nothing went out over plain http
        assert len(build_requests(door)) == 1


def test_an_upgrade_to_https_is_followed(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], jupyter_server: JupyterServer
) -> None:
    server_tls, client_tls = tls
    with (
        WireHub(name="door", keepalive_interval=0.05) as door,
        WireHub(name="member", keepalive_interval=0.05, tls=server_tls) as member,
    ):
        member.jupyter_url, member.jupyter_token = jupyter_server.url, jupyter_server.token
        door.redirects = {"build": member.build_url("org/fixture/HEAD")}
        client = httpx.Client(verify=client_tls)
        with client, BinderHub(door.url, client=client, limits=LIMITS, retry=RETRY) as hub:
            with hub.build(SPEC) as stream:
                assert [event.phase for event in stream][-1] == "ready"
            assert stream.served_by == member.url
            assert member.url.startswith("https://127.0.0.1:")
            # the session itself is plain http: never sent a token from an https member
            with pytest.raises(SessionOriginRefused, match="plain http from an https hub"):
                hub.launch(SPEC)
        assert member.launch_count == 2


# --- the front door's rules, pure (the cases a server cannot send) ----------------------------


def test_redirect_rules() -> None:
    door, path = "https://mybinder.org/", "build/gh/org/repo/HEAD"
    url = door + path

    def follow(location: str) -> tuple[str, str, bool]:
        redirect = build_redirect(door, url, path, 307, location)
        return redirect.url, redirect.member, redirect.cross_origin

    member = "https://gesis.mybinder.org/"
    assert follow(member + path + "?build_token=t") == (
        member + path + "?build_token=t",
        member,
        True,
    )
    assert follow(f"https://x.org/prefix/{path}#top") == (
        f"https://x.org/prefix/{path}",
        "https://x.org/prefix/",
        True,
    )
    assert follow(f"/other/{path}") == (
        f"https://mybinder.org/other/{path}",
        "https://mybinder.org/other/",
        False,
    )
    assert follow(f"https://mybinder.org:443/{path}")[2] is False  # the default port: same origin
    assert follow(f"//other.org/{path}")[1] == "https://other.org/"  # scheme-relative: https
    assert build_redirect(
        "http://door/", f"http://door/{path}", path, 307, f"https://m/{path}"
    ).cross_origin
    for hostile in ("http://gesis.mybinder.org/" + path, "https://\x00x/", "data:text/html,x", ""):
        with pytest.raises(HubError):
            follow(hostile)

    core = BuildStreamCore(hub=door, build_path=path, build_token="t0ken")
    assert core.params == {"build_token": "t0ken"}
    core.follow(307, member + path + "?build_token=t0ken")
    assert (core.url, core.served_by) == (member + path + "?build_token=t0ken", member)
    params: object = core.params
    assert params is None  # the Location's own query, as the front door wrote it
    assert core.drop_headers(
        {"Authorization": "x", "Cookie": "c", "Accept": "a", "User-Agent": "u"}
    ) == ["Authorization", "Cookie"]
    assert not core.follows(307)  # once
    core.restart()  # a retry asks the front door again
    assert (core.url, core.served_by, core.follows(307)) == (door + path, door, True)


# --- rate limits as BinderHub sends them ---------------------------------------------------


def test_rate_limit_as_binderhub_sends_it(twin: Twin, wirehub: WireHub) -> None:
    wirehub.rate_remaining = 1  # one build left, then BinderHub's refusal (without headers)

    async def scenario() -> tuple[RateLimit | None, RateLimit | None, RateLimited]:
        async with twin.within(twin.BinderHub(wirehub.url, limits=LIMITS, retry=RETRY)) as hub:
            async for _ in twin.each(hub.build(SPEC)):
                pass
            known = hub.rate_limit
            with pytest.raises(RateLimited) as limited:
                async for _ in twin.each(hub.build(SPEC)):
                    pass
            return known, hub.rate_limit, limited.value

    known, after, error = twin.run(scenario)
    assert known is not None
    assert (known.limit, known.remaining, known.hub) == (10, 0, wirehub.url)
    assert after == known  # the refusal had no headers: the last known ones are kept
    # the window the allowed answer announced, not BinderHub's "3600 seconds" from now
    assert error.reset == datetime.fromtimestamp(wirehub.rate_reset, UTC)
    assert error.limit == 10
    assert error.hub == wirehub.url
    assert "Try again in 3600 seconds" in str(error)


def test_rate_limit_reset_from_the_message_alone(wirehub: WireHub) -> None:
    wirehub.rate_remaining = 0
    before = datetime.now(UTC)
    with BinderHub(wirehub.url, limits=LIMITS, retry=RETRY) as hub:
        with pytest.raises(RateLimited) as limited:
            list(hub.build(SPEC))
        assert hub.rate_limit is None  # nothing known, nothing made up
    after = datetime.now(UTC)
    reset = limited.value.reset
    assert reset is not None
    assert before + dt.timedelta(seconds=3600) <= reset <= after + dt.timedelta(seconds=3600)
    assert limited.value.limit is None
    assert len(build_requests(wirehub)) == 1  # a rate limit is never retried


def test_rate_limit_headers_on_the_refusal_are_used(wirehub: WireHub) -> None:
    wirehub.rate_remaining = 0
    wirehub.rate_headers_on_refusal = True
    wirehub.rate_reset = int(time.time()) + 120
    with BinderHub(wirehub.url, limits=LIMITS, retry=RETRY) as hub:
        with pytest.raises(RateLimited) as limited:
            list(hub.build(SPEC))
        assert hub.rate_limit is not None
        assert hub.rate_limit.remaining == 0
    assert limited.value.reset == datetime.fromtimestamp(wirehub.rate_reset, UTC)
    assert limited.value.limit == 10


def test_rate_limit_reset_rules() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    message = "Rate limit exceeded. Try again in 3600 seconds."
    in_20_min = RateLimit(limit=10, remaining=0, reset=now + dt.timedelta(minutes=20))
    assert rate_limit_reset(message, None, now) == now + dt.timedelta(hours=1)
    assert rate_limit_reset(message, in_20_min, now) == in_20_min.reset
    stale = RateLimit(limit=10, remaining=3, reset=now - dt.timedelta(minutes=1))
    assert rate_limit_reset(message, stale, now) == now + dt.timedelta(hours=1)
    too_late = RateLimit(reset=now + dt.timedelta(hours=2))
    assert rate_limit_reset(message, too_late, now) == now + dt.timedelta(hours=1)
    assert rate_limit_reset("Too many requests", in_20_min, now) == in_20_min.reset
    assert rate_limit_reset("Too many requests", None, now) is None
    assert rate_limit_reset("try again in 90 s", None, now) == now + dt.timedelta(seconds=90)

    # behind a front door each member counts on its own: another member's headers do not count
    core = BuildStreamCore(hub="https://door/", build_path="build/gh/o/r/HEAD")
    core.follow(307, "https://m1/build/gh/o/r/HEAD")
    core.rate_limit = RateLimit(limit=10, remaining=0, reset=in_20_min.reset, hub="https://m2/")
    with pytest.raises(RateLimited) as limited:
        core.on_event(json.dumps({"phase": "failed", "status_code": 429, "message": message}))
    assert limited.value.limit is None
    assert limited.value.hub == "https://m1/"
    assert limited.value.reset is not None
    assert limited.value.reset > datetime.now(UTC) + dt.timedelta(minutes=59)


def test_cli_says_when_to_try_again(wirehub: WireHub) -> None:
    wirehub.rate_remaining = 1
    out, err = io.StringIO(), io.StringIO()
    assert main(["build", SPEC, "--hub", wirehub.url], out=out, err=err) == 0
    out, err = io.StringIO(), io.StringIO()
    code = main(["build", SPEC, "--hub", wirehub.url], out=out, err=err)
    assert code == 1  # unchanged: the build did not happen
    text = err.getvalue()
    assert "binderfed: error: Rate limit exceeded. Try again in 3600 seconds." in text
    # a fresh process knows no earlier headers: BinderHub's own bound, an hour
    assert "binderfed: try again in 1 h 00 min (at " in text

    out, err = io.StringIO(), io.StringIO()
    assert main(["build", SPEC, "--hub", wirehub.url, "--json"], out=out, err=err) == 1
    report: dict[str, Any] = json.loads(out.getvalue().splitlines()[-1])
    assert report["error"] == "RateLimited"
    reset = datetime.fromisoformat(report["reset"])
    assert 3590 < (reset - datetime.now(UTC)).total_seconds() <= 3600


def test_try_again_text() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    soon = now + dt.timedelta(minutes=19, seconds=59, milliseconds=500)
    assert format_try_again(soon, now).startswith("try again in 20 min (at ")
    assert format_try_again(now - dt.timedelta(seconds=1), now) == "try again now"
