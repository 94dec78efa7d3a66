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
from binderfed_sdk.federation._config import (
    CheckSettings,
    FederationConfig,
    config_from_active_hosts,
    load_federation,
)
from binderfed_sdk.federation._failover import should_fail_over
from binderfed_sdk.federation._health import candidates, judge_federation, judge_member
from binderfed_sdk.federation._prime import PrimeOutcome
from binderfed_sdk.federation._routing import LeastLoaded, Pinned, Rendezvous, routing_key
from binderfed_sdk.hub._models import Health, HealthCheck, Versions
from binderfed_sdk.sandbox.redirector import Redirector

if TYPE_CHECKING:
    from pathlib import Path

    from binderfed_sdk import BuildEvent

LIMITS = StreamLimits(idle_timeout=3, total_timeout=20)


def config(hubs: dict[str, str], prime: str, **extra: Any) -> FederationConfig:
    hosts = {name: {"url": url, "weight": 50, "prime": name == prime} for name, url in hubs.items()}
    return load_federation({"name": "test", "hosts": hosts, **extra})


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
    # as deployed (mybinder.org-deploy, 2026-08): LaunchQuota.total_quota per member,
    # BinderHub.per_repo_quota and the GitHub spec_config quotas, the redirector's check
    assert {m.name: m.launch_quota for m in fed.members} == {
        "hetzner-2i2c": 300,
        "hetzner-gesis": 180,
        "bids-ovh": 60,
    }
    assert fed.per_repo_quota == 100
    assert fed.check == CheckSettings(period=15, jitter=0.1, retries=5, timeout=5, failed_period=90)
    assert fed.repo_quota("gh", "binder-examples/requirements/HEAD") == 100
    assert fed.repo_quota("gh", "Petlja/anything/HEAD") == 50  # case ignored, as BinderHub does
    assert fed.repo_quota("gh", "MNGuenther/hackanexoplanet-env/main") == 300
    assert fed.repo_quota("gl", "petlja%2Fx/HEAD") == 100  # those patterns are GitHub's only
    assert fed.repo_quota("gh", "x/petlja/HEAD") == 100  # matched from the start


def test_member_list_loads_as_the_redirector_loads_it() -> None:
    fed = load_federation(
        {
            "hosts": {
                "prime": {"url": "https://p.test//", "weight": 50, "prime": True},
                "off": {"url": "https://off.test", "weight": 0},
                "off-float": {"url": "https://off2.test", "weight": 0.0},
                "gone": None,  # what a helm chart can do to remove a member
                "on": {"url": "https://on.test/sub/", "weight": 1},
            }
        }
    )
    assert list(fed.hosts) == ["prime", "on"]  # zero-weight and null hosts removed at load
    assert [m.name for m in fed.members] == ["prime", "on"]
    with pytest.raises(FederationError, match="unknown member 'off'"):
        fed.member("off")
    # trailing slashes go, as the redirector strips them; the SDK joins paths under one
    assert fed.prime.redirect_url == "https://p.test"
    assert fed.prime.url == "https://p.test/"
    assert fed.member("on").redirect_url == "https://on.test/sub"
    # a zero-weight prime: the redirector drops it, then refuses to start without a prime
    zero_prime = {
        "hosts": {
            "p": {"url": "https://p.test", "weight": 0, "prime": True},
            "q": {"url": "https://q.test", "weight": 5},
        }
    }
    with pytest.raises(FederationError, match="prime member 'p' has weight 0"):
        load_federation(zero_prime)
    with pytest.raises(FederationError, match="at least one member with weight > 0"):
        load_federation({"hosts": {"a": {"url": "https://a.test", "weight": 0}}})


def test_health_checks_are_scheduled_with_the_redirectors_jitter() -> None:
    check = CheckSettings(period=15, jitter=0.1, failed_period=90)
    # (1 + jitter * (0.5 - random())) * period: +-5 % for mybinder.org's jitter of 0.1
    assert check.next_check(draw=lambda: 0.0) == pytest.approx(15.75)
    assert check.next_check(draw=lambda: 0.5) == 15
    assert check.next_check(draw=lambda: 0.999999) == pytest.approx(14.25, abs=1e-4)
    assert check.next_check(failed=True, draw=lambda: 0.0) == pytest.approx(94.5)
    assert check.next_check(2.0, draw=lambda: 1.0) == pytest.approx(1.9)
    pauses = [check.next_check() for _ in range(10_000)]
    assert 14.25 <= min(pauses) < 14.3
    assert 15.7 < max(pauses) <= 15.75


def test_candidates_count_headroom_against_the_launch_quota() -> None:
    fed = load_federation(
        {
            "hosts": {
                "reported": {"url": "http://r.test", "weight": 1, "launch_quota": 300},
                "unreported": {"url": "http://u.test", "weight": 1, "launch_quota": 60},
                "unknown": {"url": "http://x.test", "weight": 1},
            }
        }
    )
    versions = Versions(binderhub="1")

    def health(pods: int, quota: int | None) -> Health:
        check = HealthCheck(service="Pod quota", ok=True, total_pods=pods, quota=quota)
        return Health(ok=True, checks=[check], status_code=200)

    state = judge_federation(
        fed,
        {
            "reported": (versions, health(20, 100), 0.1),  # /health's own quota wins
            "unreported": (versions, health(15, None), 0.1),  # none: the member's launch quota
            "unknown": (versions, health(5, None), 0.1),  # neither: unknown
        },
    )
    by_name = {c.name: c for c in candidates(fed, state, repo_full={"reported"})}
    assert (by_name["reported"].headroom, by_name["reported"].quota) == (80, 100)
    assert (by_name["unreported"].headroom, by_name["unreported"].quota) == (45, 60)
    assert (by_name["unknown"].headroom, by_name["unknown"].quota) == (None, None)
    assert [n for n, c in by_name.items() if c.repo_full] == ["reported"]
    before_health = {c.name: c for c in candidates(fed, None)}
    assert before_health["unreported"].quota == 60
    assert before_health["unreported"].headroom is None


def test_active_hosts_keep_an_unhealthy_prime() -> None:
    base = load_federation(
        {
            "hosts": {
                "p": {"url": "https://p.test", "weight": 50, "prime": True, "launch_quota": 9},
                "q": {"url": "https://q.test", "weight": 50},
            }
        }
    )
    answer = {"active_hosts": {"q": {"url": "https://q.test", "weight": 50, "prime": False}}}
    refreshed = config_from_active_hosts(base, answer, "https://r.test")
    assert list(refreshed.hosts) == ["q", "p"]
    assert refreshed.prime.name == "p"
    assert refreshed.prime.launch_quota == 9


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


def test_least_loaded_uses_the_launch_quotas_when_health_has_none() -> None:
    """/health without a Pod quota (BinderHub reports `quota: null` without a LaunchQuota
    total): headroom is counted against each member's launch quota from the member list."""
    servers = {name: WireHub(name=name) for name in "abc"}
    pods = {"a": 250, "b": 5, "c": 100}
    quotas = {"a": 300, "b": 60, "c": 180}
    for name, server in servers.items():
        server.start()
        server.health_checks[2].update(total_pods=pods[name], user_pods=pods[name], quota=None)
    try:
        hosts = {
            n: {"url": s.url, "weight": 50, "prime": n == "a", "launch_quota": quotas[n]}
            for n, s in servers.items()
        }
        with Federation({"hosts": hosts}, policy="least-loaded") as fed:
            assert [m.name for m in fed.route("gh/org/repo/HEAD")] == ["c", "b", "a"]  # 80/55/50
            # /health's own quota, when it gives one, is the one the redirector uses too
            servers["c"].health_checks[2].update(quota=150)  # 50 free, as a
            fed.health()
            assert [m.name for m in fed.route("gh/org/repo/HEAD")] == ["b", "a", "c"]
        for host in hosts.values():
            del host["launch_quota"]
        with Federation({"hosts": hosts}, policy=LeastLoaded()) as fed:
            # no launch quotas: only c (its /health quota) has a known load; a, b follow by name
            assert [m.name for m in fed.route("gh/org/repo/HEAD")] == ["c", "a", "b"]
    finally:
        for server in servers.values():
            server.stop()


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
                assert resolution.cookie == resolution.member.redirect_url  # no trailing /
                assert resolution.location.startswith(resolution.member.url + "build/gh/org/")
            assert seen == {"a", "b"}  # only healthy members, both used
        builds = [p for s in hubs.values() for m, p, _ in s.requests if p.startswith("/build/")]
        assert builds == []  # resolving never reaches a member


def test_rendezvous_routes_where_a_rendezvous_redirector_sends(hubs: dict[str, WireHub]) -> None:
    """A redirector configured `load_balancer: rendezvous` (the real one's option) and the
    client's `rendezvous` policy pick the same member for every spec, refs of a gh repo alike."""
    members = config({n: s.url for n, s in hubs.items()}, "a", load_balancer="rendezvous")
    specs = [f"gh/Org/repo-{i}/HEAD" for i in range(12)]
    specs += [f"gl/group%2Fproject{i}/main" for i in range(4)]
    specs += [f"zenodo/10.5281/zenodo.{4036893 + i}" for i in range(4)]
    specs += ["gist/user0/d77d4b61a23c97538c23b037cca5fab5/HEAD"]
    with Redirector(members, check_period=60) as redirector:
        assert redirector.wait_checked()
        with Federation(
            members.model_copy(update={"redirector": redirector.url}), policy="rendezvous"
        ) as fed:
            chosen = {}
            for spec in specs:
                resolution = fed.resolve(spec)
                assert resolution.member.name == fed.route(spec)[0].name
                chosen[spec] = resolution.member.name
            for i in range(12):
                assert fed.resolve(f"gh/org/REPO-{i}/v2.0").member.name == chosen[specs[i]]
    assert set(chosen.values()) == {"a", "b"}  # the healthy ones, both chosen
    assert redirector.redirects.keys() == {("a", "rendezvous"), ("b", "rendezvous")}
    assert routing_key("build/gh/Org/repo-0/HEAD") == "/build/gh/org/repo-0"
    assert Rendezvous().name == "rendezvous"


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
