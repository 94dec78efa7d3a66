"""A federation redirector with mybinder.org's rules, for the sandbox and the tests.

- `/build/...` answers **307** to a healthy member, chosen by weight (`random.choices`), or by
  the redirector's rendezvous hashing when the config says `load_balancer: rendezvous`, or
  the member named by the `host` cookie while that member is healthy; the prime when none is.
  The cookie is set to the member URL (no trailing `/`), path = the exact request path, 4 hours.
- `/active_hosts` lists the healthy members; `/metrics` has `federation_health` and
  `federation_redirect_count`.
- Everything else is proxied to the prime.
- A request whose `Host` is not the redirector's own `127.0.0.1:<port>` (or
  `localhost:<port>`) gets a 403 (`check_host`).
- Health checks run every `check.period` seconds (+- `check.jitter` / 2) with the same rules the
  SDK's `Federation.health()` applies (it *is* that code); a failed member is checked again
  after `check.failed_period`.

Run it: `python -m binderfed_sdk.sandbox.redirector --federation FILE --port N`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web

from binderfed_sdk.federation._async_client import AsyncFederation
from binderfed_sdk.federation._config import FederationConfig, load_federation
from binderfed_sdk.federation._health import FederationHealth, MemberHealth, candidates
from binderfed_sdk.federation._routing import Rendezvous, WeightedRandom, routing_key
from binderfed_sdk.sandbox._thread import ServerThread
from binderfed_sdk.sandbox.wire import log_request, loopback_hosts

if TYPE_CHECKING:
    import socket

__all__ = ["Redirector"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}
)


class Redirector(ServerThread):
    """A redirector over `federation`'s members, on 127.0.0.1, in a thread of its own
    (`with Redirector(...)`), or in the current event loop (`await redirector.run()`)."""

    def __init__(
        self,
        federation: FederationConfig | str,
        *,
        port: int = 0,
        seed: int | None = None,
        check_period: float | None = None,
        check_host: bool = True,
    ) -> None:
        super().__init__(name="redirector", port=port)
        #: refuse requests whose Host is not 127.0.0.1:<port> or localhost:<port> (against
        #: DNS rebinding: a hostile page's own name, resolving to 127.0.0.1, is its Host)
        self.check_host = check_host
        self.config = load_federation(federation)
        self.period = check_period if check_period is not None else self.config.check.period
        self.policy = WeightedRandom(seed=seed)
        self.rendezvous = self.config.load_balancer == "rendezvous"
        self.health: dict[str, MemberHealth] = {}
        self.checks = 0
        self.redirects: Counter[tuple[str, str]] = Counter()
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not security
        self._checked = threading.Event()
        self._failed_at: dict[str, float] = {}

    # routing -----------------------------------------------------------------------------------
    @property
    def healthy(self) -> list[str]:
        return [name for name, state in self.health.items() if state.healthy]

    def choose(self, cookie: str | None, path: str = "") -> tuple[str, str]:
        """(member name, reason) for one `/build` request (`path`: the request's path)."""
        healthy = set(self.healthy)
        if cookie:
            sticky = self.config.member_for_url(cookie)
            if sticky is not None and sticky.name in healthy:
                return sticky.name, "cookie"
        if not healthy:
            return self.config.prime.name, "prime"
        state = FederationHealth(
            members=self.health, prime=self.config.prime.name, checked_at=datetime.now(UTC)
        )
        if self.rendezvous:
            ranking = Rendezvous().rank(candidates(self.config, state), routing_key(path))
            return ranking[0], "rendezvous"
        ranking = self.policy.rank(candidates(self.config, state), "")
        return ranking[0], "random"

    # health ------------------------------------------------------------------------------------
    async def check_once(self, federation: AsyncFederation) -> None:
        now = time.monotonic()
        due = [
            name
            for name in self.config.hosts
            if name not in self.health
            or self.health[name].healthy
            or now - self._failed_at.get(name, 0) >= self.config.check.failed_period
        ]
        result = await federation.health(members=due)
        for name, state in result.members.items():
            if name in due or name == self.config.prime.name:
                if not state.healthy and (name not in self.health or self.health[name].healthy):
                    self._failed_at[name] = now
                self.health[name] = state
        self.checks += 1
        self._checked.set()

    async def _health_loop(self, stop: asyncio.Event) -> None:
        async with AsyncFederation(self.config, timeout=self.config.check.timeout) as federation:
            while not stop.is_set():
                try:
                    await self.check_once(federation)
                except Exception:  # noqa: BLE001 - a check must never kill the loop
                    self._checked.set()
                pause = self.config.check.next_check(self.period, draw=self._rng.random)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)

    def wait_checked(self, timeout: float = 10.0) -> bool:
        """Block until the first round of health checks is in."""
        return self._checked.wait(timeout)

    def stop(self, timeout: float | None = None) -> None:
        # a health check in flight may take its whole timeout to notice
        super().stop(timeout or self.STOP_TIMEOUT + self.config.check.timeout)

    async def serve(self, sockets: list[socket.socket], stop: asyncio.Event) -> None:
        proxy = httpx.AsyncClient(timeout=30, follow_redirects=False)
        app = tornado.web.Application(
            [
                (r"/build/(.*)", _BuildHandler, {"redirector": self}),
                (r"/active_hosts", _ActiveHostsHandler, {"redirector": self}),
                (r"/metrics", _MetricsHandler, {"redirector": self}),
                (r"/(.*)", _ProxyHandler, {"redirector": self, "client": proxy}),
            ],
            log_function=log_request,
        )
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        checks = asyncio.create_task(self._health_loop(stop))
        self.ready()
        try:
            await stop.wait()
        finally:
            checks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checks
            server.stop()
            await server.close_all_connections()
            await proxy.aclose()


class _Handler(tornado.web.RequestHandler):
    def initialize(self, redirector: Redirector, client: httpx.AsyncClient | None = None) -> None:
        self.redirector = redirector
        self.client = client

    def check_xsrf_cookie(self) -> None:  # a redirector takes no form posts
        return

    def prepare(self) -> None:
        redirector = self.redirector
        host = (self.request.host or "").lower()
        if redirector.check_host and host not in loopback_hosts(redirector.port):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish("Host not allowed\n")


class _BuildHandler(_Handler):
    def get(self, _path: str) -> None:
        redirector = self.redirector
        name, reason = redirector.choose(self.get_cookie("host"), self.request.path)
        member = redirector.config.member(name)
        redirector.redirects[(name, reason)] += 1
        target = member.url + self.request.uri.lstrip("/") if self.request.uri else member.url
        self.set_cookie(
            "host",
            member.redirect_url,
            path=self.request.path,
            expires_days=redirector.config.host_cookie_age_hours / 24,
        )
        self.redirect(target, status=307)


class _ActiveHostsHandler(_Handler):
    def get(self) -> None:
        config = self.redirector.config
        active = {
            name: {
                "url": config.hosts[name].url.rstrip("/"),
                "weight": config.hosts[name].weight,
                "health": config.hosts[name].url + "health",
                "versions": config.hosts[name].url + "versions",
                "prime": config.hosts[name].prime,
            }
            for name in self.redirector.healthy
        }
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"active_hosts": active}))


class _MetricsHandler(_Handler):
    def get(self) -> None:
        lines = ["# TYPE federation_health gauge"]
        for name, state in self.redirector.health.items():
            lines.append(
                f'federation_health{{member="{name}",reason="{state.reason or "ok"}"}} '
                f"{int(state.healthy)}"
            )
        lines.append("# TYPE federation_redirect_count counter")
        for (name, reason), count in sorted(self.redirector.redirects.items()):
            lines.append(f'federation_redirect_count{{member="{name}",reason="{reason}"}} {count}')
        self.set_header("Content-Type", "text/plain; version=0.0.4")
        self.finish("\n".join(lines) + "\n")


class _ProxyHandler(_Handler):
    """Everything but `/build` goes to the prime, as on mybinder.org."""

    async def get(self, _path: str) -> None:
        await self._relay()

    async def head(self, _path: str) -> None:
        await self._relay()

    async def _relay(self) -> None:
        assert self.client is not None  # noqa: S101
        prime = self.redirector.config.prime
        target = prime.url + (self.request.uri or "/").lstrip("/")
        try:
            answer = await self.client.request(self.request.method or "GET", target)
        except httpx.HTTPError:
            self.set_status(502)
            self.finish("the prime member is unreachable\n")
            return
        self.set_status(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                self.set_header(key, value)
        self.finish(answer.content)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a federation redirector on 127.0.0.1")
    parser.add_argument("--federation", required=True, help="a member list (JSON file or name)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--check-period", type=float)
    args = parser.parse_args(argv)
    redirector = Redirector(args.federation, port=args.port, check_period=args.check_period)
    asyncio.run(redirector.run())


if __name__ == "__main__":
    main()
