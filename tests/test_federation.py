"""Federations against several real loopback hubs (WireHubs) in different states, and a real
redirector with mybinder.org's rules."""

from __future__ import annotations

import _thread
import asyncio
import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from servers import free_port
from wirehub import WireHub

from binderfed_sdk import BuildFailed, RateLimited, SpecError, StreamLimits
from binderfed_sdk._errors import FederationError, LaunchExhausted, RedirectRefused
from binderfed_sdk.federation._async_client import AsyncFederation
from binderfed_sdk.federation._client import Federation
from binderfed_sdk.federation._config import FederationConfig, load_federation
from binderfed_sdk.federation._failover import should_fail_over
from binderfed_sdk.federation._health import judge_member
from binderfed_sdk.federation._prime import PrimeOutcome
from binderfed_sdk.federation._routing import Pinned
from binderfed_sdk.hub._models import Health, HealthCheck, Versions
from binderfed_sdk.sandbox.redirector import Redirector

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from binderfed_sdk import BuildEvent

LIMITS = StreamLimits(idle_timeout=3, total_timeout=20)


def config(hubs: dict[str, str], prime: str, **extra: Any) -> FederationConfig:
    hosts = {name: {"url": url, "weight": 50, "prime": name == prime} for name, url in hubs.items()}
    return load_federation({"name": "test", "hosts": hosts, **extra})


@pytest.fixture
def hubs() -> Iterator[dict[str, WireHub]]:
    """Four members: two healthy (a is the prime), one 503, one with its pod quota full."""
    servers = {name: WireHub(name=name, keepalive_interval=0.05) for name in "abcd"}
    for server in servers.values():
        server.start()
    servers["c"].health_status = 503
    servers["d"].health_checks[2].update(total_pods=95, user_pods=95, quota=100)
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def fed_of(hubs: dict[str, WireHub], **kwargs: Any) -> Federation:
    return Federation(
        config({n: s.url for n, s in hubs.items()}, "a"), limits=LIMITS, timeout=5, **kwargs
    )


def shutdowns(server: WireHub) -> int:
    return sum(1 for m, path, _ in server.requests if m == "POST" and path.endswith("api/shutdown"))


# --- members as data ---------------------------------------------------------------------------


def test_mybinder_members_ship_with_the_package() -> None:
    fed = load_federation("mybinder")
    assert [m.name for m in fed.members] == ["hetzner-2i2c", "hetzner-gesis", "bids-ovh"]
    assert fed.prime.name == "hetzner-2i2c"
    assert fed.prime.url == "https://2i2c.mybinder.org/"
    assert {m.weight for m in fed.members} == {50}
    assert fed.pod_headroom == 10
    assert fed.check.timeout == 5
    assert fed.member("bids-ovh").registry == "registry.bids.mybinder.org"


def test_member_list_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "fed.json"
    path.write_text(
        json.dumps({"name": "mine", "hosts": {"x": {"url": "http://x.test", "weight": 1}}})
    )
    assert load_federation(path).prime.name == "x"  # no prime flagged: the first member
    monkeypatch.setenv("BINDERFED_FEDERATION", str(path))
    assert load_federation().name == "mine"
    assert Federation().config.name == "mine"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"hosts": {}}, "at least one member"),
        (
            {
                "hosts": {
                    "a": {"url": "http://a", "prime": True},
                    "b": {"url": "http://b", "prime": True},
                }
            },
            "one prime",
        ),
        ({"hosts": {"a": {"url": "ftp://a"}}}, "http"),
        ({"hosts": {"a": {"url": "http://a", "weight": -1}}}, "weight"),
        ("no-such-federation", "neither a built-in"),
    ],
)
def test_bad_member_lists(data: Any, fragment: str) -> None:
    with pytest.raises((FederationError, ValueError), match=fragment):
        load_federation(data)


# --- health with the redirector's rules -------------------------------------------------------


def test_health_rules_on_real_members(hubs: dict[str, WireHub]) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/"
    slow = WireHub(name="slow")
    odd = WireHub(name="odd", versions={"binderhub": "0.9.0", "builder_info": {}})
    html = WireHub(name="html")
    with slow, odd, html:
        slow.delay = 3.0
        html.html_mode = True
        urls = {n: s.url for n, s in hubs.items()} | {
            "slow": slow.url,
            "odd": odd.url,
            "html": html.url,
            "dead": dead_url,
        }
        started = time.monotonic()
        with Federation(config(urls, "a")) as fed:
            health = fed.health(timeout=1.0)
        elapsed = time.monotonic() - started
    states = health.members
    assert elapsed < 1.1 * 1.0 + 0.3  # the slow member never delays the answer
    assert health.healthy == ["a", "b"]
    assert (states["c"].reason, states["d"].reason) == ("health", "pod quota")
    assert states["d"].detail == "95 pods + headroom 10 >= quota 100"
    assert (states["d"].total_pods, states["d"].quota, states["d"].headroom) == (95, 100, 5)
    assert states["odd"].reason == "versions"
    assert states["slow"].reason == "timeout"
    assert states["dead"].reason == "unreachable"
    assert states["html"].reason == "unknown"
    assert states["a"].latency is not None
    assert states["a"].latency < 1
    assert states["a"].binderhub == "1.0.0"


def test_judge_member_boundaries() -> None:
    member = load_federation({"hosts": {"m": {"url": "http://m"}}}).prime
    versions = Versions(binderhub="1")

    def health(pods: int, quota: int | None, *, ok: bool = True) -> Health:
        check = HealthCheck(service="Pod quota", ok=ok, total_pods=pods, quota=quota)
        return Health(ok=ok, checks=[check], status_code=200 if ok else 503)

    def judge(h: Health, prime: Versions | None = versions) -> tuple[bool, str | None]:
        state = judge_member(
            member, versions=versions, health=h, prime_versions=prime, headroom=10, latency=0.1
        )
        return state.healthy, state.reason

    assert judge(health(89, 100)) == (True, None)
    assert judge(health(90, 100)) == (False, "pod quota")  # total + headroom >= quota
    assert judge(health(500, None)) == (True, None)  # no quota: no limit
    assert judge(health(1, 100, ok=False)) == (False, "health")  # soft check counts too
    assert judge(health(1, 100), Versions(binderhub="2")) == (False, "versions")
    assert judge(health(1, 100), None) == (True, None)  # prime unknown: no versions rule


def test_async_health_matches(hubs: dict[str, WireHub]) -> None:
    async def probe() -> list[str]:
        async with AsyncFederation(config({n: s.url for n, s in hubs.items()}, "a")) as fed:
            return (await fed.health(timeout=2)).healthy

    assert asyncio.run(probe()) == ["a", "b"]


# --- routing ----------------------------------------------------------------------------------


def test_route_skips_unhealthy_and_falls_back_to_prime(hubs: dict[str, WireHub]) -> None:
    with fed_of(hubs, policy="rendezvous") as fed:
        order = [m.name for m in fed.route("gh/org/repo/HEAD")]
        assert sorted(order) == ["a", "b"]
        assert [m.name for m in fed.route("gh/org/repo/other-ref")] == order  # ref-independent
        hubs["b"].health_status = 503
        fed.health()
        assert [m.name for m in fed.route("gh/org/repo/HEAD")] == ["a"]
        hubs["a"].health_status = 503
        fed.health()
        assert [m.name for m in fed.route("gh/org/repo/HEAD")] == ["a"]  # the prime anyway
    with fed_of(hubs) as fed, pytest.raises(SpecError):
        fed.route("gh/org/../HEAD")


# --- resolve and refresh through a real redirector --------------------------------------------


def test_resolve_reads_the_307_and_cookie(hubs: dict[str, WireHub]) -> None:
    members = config({n: s.url for n, s in hubs.items()}, "a")
    with Redirector(members, seed=1, check_period=60) as redirector:
        assert redirector.wait_checked()
        with Federation(members.model_copy(update={"redirector": redirector.url})) as fed:
            seen = set()
            for i in range(20):
                resolution = fed.resolve(f"gh/org/repo-{i}/HEAD")
                seen.add(resolution.member.name)
                assert resolution.cookie == resolution.member.url
                assert resolution.location.startswith(resolution.member.url + "build/gh/org/")
            assert seen == {"a", "b"}  # only healthy members, both used
        builds = [p for s in hubs.values() for m, p, _ in s.requests if p.startswith("/build/")]
        assert builds == []  # resolving never reaches a member


def test_redirect_to_an_unknown_member_is_refused(hubs: dict[str, WireHub]) -> None:
    # the redirector knows a member "x" that our member list lacks
    full = config({"a": hubs["a"].url, "x": hubs["b"].url}, "a")
    ours = config({"a": hubs["a"].url}, "a")
    with Redirector(full, seed=3, check_period=60) as redirector:
        assert redirector.wait_checked()
        fed = Federation(ours.model_copy(update={"redirector": redirector.url}))
        outcomes: list[str] = []
        for i in range(10):
            try:
                outcomes.append(fed.resolve(f"gh/org/r{i}/HEAD").member.name)
            except RedirectRefused as error:
                outcomes.append(str(error))
        refused = [o for o in outcomes if "not a known member" in o]
        assert 0 < len(refused) < 10
        assert set(outcomes) - set(refused) == {"a"}


def test_refresh_from_active_hosts(hubs: dict[str, WireHub]) -> None:
    members = config({n: s.url for n, s in hubs.items()}, "a")
    with Redirector(members, check_period=60) as redirector:
        assert redirector.wait_checked()
        fed = Federation(members.model_copy(update={"redirector": redirector.url}))
        refreshed = fed.refresh()
    assert sorted(refreshed.hosts) == ["a", "b"]
    assert refreshed.prime.name == "a"
    assert fed.config is refreshed


# --- launch with failover ---------------------------------------------------------------------


def test_failover_to_the_next_member(hubs: dict[str, WireHub]) -> None:
    seen: list[tuple[str, str | None]] = []
    with fed_of(hubs, policy=Pinned("b")) as fed:
        fed.health()
        hubs["b"].html_mode = True  # healthy when probed, broken when launched on
        session = fed.launch("gh/org/fixture/HEAD", on_event=lambda m, e: seen.append((m, e.phase)))
    assert session.member == "a"
    assert session.token.get_secret_value() == hubs["a"].tokens[-1]
    assert seen[-1] == ("a", "ready")
    assert "member='a'" in repr(session)
    session.close()


@pytest.mark.parametrize("scenario", ["failed-500", "too-many-users", "drop"])
def test_failover_is_bounded(hubs: dict[str, WireHub], scenario: str) -> None:
    with fed_of(hubs, policy=Pinned("a")) as fed, pytest.raises(LaunchExhausted) as exhausted:
        fed.launch(f"gh/org/{scenario}/HEAD")
    assert [name for name, _ in exhausted.value.attempts] == ["a", "b"]  # healthy ones only
    for name in "ab":
        assert hubs[name].hits == {f"/build/gh/org/{scenario}/HEAD": 1}  # no retry per member
    assert all(s.hits == {} for n, s in hubs.items() if n in "cd")


@pytest.mark.parametrize(
    ("scenario", "error"), [("failed-403", BuildFailed), ("http-429", RateLimited)]
)
def test_no_failover_on_4xx(
    hubs: dict[str, WireHub], scenario: str, error: type[Exception]
) -> None:
    with fed_of(hubs, policy=Pinned("a")) as fed, pytest.raises(error):
        fed.launch(f"gh/org/{scenario}/HEAD")
    assert not any(p.startswith("/build/") for _, p, _ in hubs["b"].requests)


def test_should_fail_over() -> None:
    assert should_fail_over(BuildFailed("Too many users running x", status_code=None))
    assert should_fail_over(BuildFailed("boom", status_code=502))
    assert not should_fail_over(BuildFailed("Build failed"))
    assert not should_fail_over(BuildFailed("nope", status_code=404))
    assert not should_fail_over(RateLimited("slow down"))


def test_async_launch_with_failover(hubs: dict[str, WireHub]) -> None:
    async def scenario() -> str | None:
        urls = {n: s.url for n, s in hubs.items()}
        async with AsyncFederation(config(urls, "a"), policy=Pinned("b"), limits=LIMITS) as fed:
            await fed.health()
            hubs["b"].html_mode = True
            session = await fed.launch("gh/org/fixture/HEAD")
            await session.aclose()
            return session.member

    assert asyncio.run(scenario()) == "a"


# --- priming ----------------------------------------------------------------------------------


def test_prime_every_member() -> None:
    build_only = WireHub(name="bo", api_only=True)
    launcher = WireHub(name="la", keepalive_interval=0.05)
    down = WireHub(name="down")
    with build_only, launcher, down:
        down.health_status = 503
        members = config({"bo": build_only.url, "la": launcher.url, "down": down.url}, "bo")
        events: list[tuple[str, BuildEvent]] = []
        with Federation(members, limits=LIMITS) as fed:
            results = {
                r.member: r
                for r in fed.prime(
                    "gh/org/fixture/HEAD", on_event=lambda m, e: events.append((m, e))
                )
            }
        assert results["bo"].outcome == PrimeOutcome.OK
        assert results["bo"].method == "build-only"
        assert results["la"].outcome == PrimeOutcome.OK
        assert results["la"].method == "launch"
        assert results["down"].outcome == PrimeOutcome.SKIPPED
        assert results["down"].reason == "health"
        # the launched session was shut down at once, and nothing else was launched
        assert len(launcher.tokens) == shutdowns(launcher) == 1
        assert build_only.tokens == []
        assert {m for m, _ in events} == {"bo", "la"}


def test_prime_failure_leaves_nothing_running(hubs: dict[str, WireHub]) -> None:
    with fed_of(hubs) as fed:
        results = fed.prime("gh/org/failed-build/HEAD", members=["a", "b"])
    assert [r.outcome for r in results] == [PrimeOutcome.FAILED, PrimeOutcome.FAILED]
    assert all("Build failed" in (r.reason or "") for r in results)
    assert all(s.tokens == [] for s in hubs.values())


def test_prime_ctrl_c_stops_builds_and_shuts_down(hubs: dict[str, WireHub]) -> None:
    """A Ctrl-C while members build: every stream closes, every launched session stops."""
    with fed_of(hubs) as fed:
        fed.health()
        timer = threading.Timer(1.0, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            fed.prime("gh/org/slow-300/HEAD", members=["a", "b"])
        timer.cancel()
    assert time.monotonic() - started < 8
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(s.open_streams for s in hubs.values()):
        time.sleep(0.02)
    assert all(s.open_streams == 0 for s in hubs.values())
    assert all(len(s.tokens) == shutdowns(s) for s in hubs.values())


def test_async_prime_cancelled_leaves_nothing(hubs: dict[str, WireHub]) -> None:
    async def scenario() -> None:
        urls = {n: s.url for n, s in hubs.items()}
        async with AsyncFederation(config(urls, "a"), limits=LIMITS) as fed:
            task = asyncio.create_task(fed.prime("gh/org/slow-300/HEAD", members=["a", "b"]))
            await asyncio.sleep(1.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            done = await fed.prime("gh/org/instant/HEAD", members=["a", "b"])
            assert [r.outcome for r in done] == [PrimeOutcome.OK, PrimeOutcome.OK]

    asyncio.run(scenario())
    time.sleep(0.3)
    assert all(s.open_streams == 0 for s in hubs.values())
    assert all(len(s.tokens) == shutdowns(s) for s in hubs.values())
