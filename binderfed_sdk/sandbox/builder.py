"""The sandbox's BinderHub-compatible build service: one per member.

BinderHub's HTTP surface (`/build` event stream, `/health`, `/versions`, `/api/repoproviders`,
`/v2/` pages with build tokens, rate-limit headers) is `binderfed_sdk.sandbox.wire`'s, shared
with the test server; this module is the backend behind it, which really builds:

1. resolve the ref of a local git repository (`git` specs with a path or `file://` URL;
   `gh/<org>/<repo>/<ref>` maps onto `<repos>/<org>/<repo>`);
2. make a virtual environment for that commit, layered over this Python's packages, once
   (cached by commit), installing the repository's `binder/requirements.txt` or
   `requirements.txt` with pip, whose output is streamed as `building` events; a failed
   build leaves nothing behind;
3. launch a JupyterLab from it through the member's JupyterHub REST API, with the session
   environment of a Binder pod, and answer `ready` with its URL and token.

Run: `python -m binderfed_sdk.sandbox.builder --config member.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import shutil
import sys
from collections import defaultdict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import httpx
import tornado.httpserver
import tornado.netutil
from httpx_sse import aconnect_sse
from pydantic import BaseModel, ConfigDict

from binderfed_sdk import __version__
from binderfed_sdk._errors import SpecError
from binderfed_sdk.sandbox.wire import (
    Backend,
    BuildRequest,
    BuildStream,
    Counters,
    RateLimit,
    RateLimiter,
    Surface,
)
from binderfed_sdk.spec._spec import Provider, Spec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import TypeAlias

    #: where a build step writes its events
    Emit: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]

__all__ = ["BuildService", "BuilderConfig"]

PIP_TAIL = 12
#: each launch is a named server of a user made for it, as BinderHub's launcher does
SERVER_NAME = "binder"

# `rfc3987_syntax` (jsonschema's optional IRI format checker, pulled in through jupyter-events)
# compiles a grammar at import: 2.5 s of every Jupyter server's start here, for a format no
# session uses. Each session environment shadows it with a module that is "not installed",
# which jsonschema handles (it then skips the `iri` format).
_SKIP_SLOW_IMPORT = (
    "# written by the binderfed sandbox: see binderfed_sdk/sandbox/builder.py\n"
    'raise ImportError("rfc3987_syntax is left out of sandbox sessions: slow to import")\n'
)


class BuilderConfig(BaseModel):
    """Everything one member's build service needs (written by `binderfed sandbox up`)."""

    model_config = ConfigDict(frozen=True)

    member: str
    federation: str = "sandbox"
    #: the federation file sessions can load (`BINDERFED_FEDERATION`)
    federation_file: str | None = None
    port: int
    hub_api_url: str  # http://127.0.0.1:<hub port>/hub/api/
    hub_public_url: str  # http://127.0.0.1:<proxy port>/
    hub_token: str
    launch_host: str  # the front door sessions report (the redirector)
    repos_dir: str
    cache_dir: str
    registry: str  # a made-up registry host naming this member in JUPYTER_IMAGE_SPEC
    secret: str
    pod_quota: int = 20
    per_repo_quota: int = 100
    rate_limit: int = 100
    rate_period: float = 3600.0
    idle_timeout: float = 600.0
    launch_timeout: float = 90.0
    keepalive_interval: float = 25.0
    pip_args: list[str] = []


class BuildError(Exception):
    """Ends a build with a `failed` event (`status_code` only where BinderHub sends one)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def image_name(spec: Spec, commit: str) -> str:
    """BinderHub-style image name: `binder-<escaped repo>-<hash>:<commit>`."""
    escaped = re.sub(r"[^a-z0-9]", lambda m: f"-{ord(m.group()):x}", spec.repo.lower())[:40]
    digest = hashlib.sha256(f"{spec.provider}/{spec.repo}".encode()).hexdigest()[:6]
    return f"binder-{escaped}-{digest}:{commit}"


def layer_over_this_environment(env: Path) -> None:
    """Make the new environment see this one's packages (JupyterLab, binderfed, ...) under
    its own, as a Binder image has its base environment: a `.pth` file listing this Python's
    site-packages. (`venv --system-site-packages` would see the base interpreter's, not a
    virtual environment binderfed may be installed in.)"""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = env / "lib" / version / "site-packages"
    parents = [p for p in sys.path if Path(p).name in {"site-packages", "dist-packages"}]
    # `site.addsitedir`, not bare paths: the .pth files there (editable installs) count too
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    (site_packages / "_binderfed_base.pth").write_text(lines)
    (site_packages / "rfc3987_syntax.py").write_text(_SKIP_SLOW_IMPORT)


class BuildService(Backend):
    """The build service behind BinderHub's endpoints (binderfed_sdk.sandbox.wire): builds
    in progress, environments, rate limits."""

    #: the redirector's launch pages are the prime's, whose tokens any member takes
    check_token_origin = False

    def __init__(self, config: BuilderConfig) -> None:
        self.config = config
        self.cache = Path(config.cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.secret = config.secret.encode()
        self.keepalive_interval = config.keepalive_interval
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.active_builds = 0
        self.build_count = 0
        self.launch_count = 0
        self._rate = RateLimiter(config.rate_limit, config.rate_period)
        self.hub = httpx.AsyncClient(
            base_url=config.hub_api_url,
            headers={"Authorization": f"token {config.hub_token}"},
            timeout=15,
        )

    # BinderHub's endpoints ----------------------------------------------------------------------
    def take_rate(self, client_ip: str) -> RateLimit:
        return self._rate.take(client_ip)

    def versions(self) -> dict[str, Any]:
        return {
            "builder_info": {"build_image": "binderfed-sandbox venv builder"},
            "binderhub": f"binderfed-sandbox-{__version__}",
        }

    def repo_providers(self) -> list[dict[str, Any]]:
        return [
            {"id": "gh", "displayName": "GitHub (local folders)", "spec": {}},
            {"id": "git", "displayName": "Git repository (local path)", "spec": {}},
        ]

    def counters(self) -> Counters:
        return Counters(self.build_count, self.launch_count, self.active_builds)

    async def build(self, request: BuildRequest, stream: BuildStream) -> None:
        """waiting, then (unless cached) fetching and building, built, launching, ready."""
        try:
            spec = Spec.parse(f"{request.provider}/{request.spec}")
        except SpecError as error:
            await stream.fail(str(error))
            return
        username: str | None = None
        try:
            await stream.emit({"phase": "waiting", "message": "Waiting for build to start...\n"})
            path, ref = self.repository(spec)
            commit = await self.resolve_ref(path, ref)
            env_dir = self.env_dir(path, commit)
            if not (env_dir / ".complete").exists():
                env_dir = await self.build_environment(path, commit, stream.emit)
            name = image_name(spec, commit)
            await stream.emit({"phase": "built", "message": "Built image, launching...\n",
                               "imageName": name})  # fmt: skip
            ready = await self.launch(spec, commit, env_dir, request.client_ip, stream.emit)
            username = ready["url"].rstrip("/").split("/")[-2]
            await stream.emit(ready)
            username = None  # delivered: the session is the client's now
        except BuildError as error:
            await stream.fail(error.message, error.status_code)
        finally:
            if username is not None:  # started, but the client never got `ready`
                await self.stop_user(username)

    # repositories ---------------------------------------------------------------------------
    def repository(self, spec: Spec) -> tuple[Path, str]:
        """The local repository a spec names, and the ref to resolve."""
        if spec.provider == Provider.GH:
            path = Path(self.config.repos_dir, *spec.repo.split("/"))
        elif spec.provider == Provider.GIT:
            parts = urlsplit(spec.repo)
            if parts.scheme not in {"", "file"}:
                msg = f"the sandbox builds local repositories only, not {parts.scheme} URLs"
                raise BuildError(msg)
            path = Path(unquote(parts.path))
        else:
            msg = f"the sandbox does not build {spec.provider} repositories"
            raise BuildError(msg)
        if not (path / ".git").exists() and not (path / "HEAD").exists():
            msg = f"Repository {spec.repo} not found"
            raise BuildError(msg)
        return path, spec.ref or "HEAD"

    async def resolve_ref(self, path: Path, ref: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "git", "-C", str(path), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 30)
        commit = out.decode().strip()
        if process.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40}", commit):
            msg = f"Could not resolve ref for {path.name}@{ref}. Double check your URL."
            raise BuildError(msg)
        return commit

    def env_dir(self, path: Path, commit: str) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        return self.cache / "envs" / f"{key}-{commit}"

    # building -------------------------------------------------------------------------------
    async def build_environment(self, path: Path, commit: str, emit: Emit) -> Path:
        """The environment for `commit`, built once; pip's output goes to `emit`."""
        target = self.env_dir(path, commit)
        async with self._locks[str(target)]:
            if (target / ".complete").exists():
                return target
            staging = target.with_name(target.name + f".building-{secrets.token_hex(4)}")
            self.active_builds += 1
            try:
                await emit({"phase": "fetching", "message": f"Checking out {commit[:12]}...\n"})
                await self._checkout(path, commit, staging / "repo")
                await emit({"phase": "building", "message": "Creating the environment...\n"})
                await self._run(
                    [sys.executable, "-m", "venv", "--without-pip", str(staging / "env")], emit
                )
                layer_over_this_environment(staging / "env")
                requirements = next(
                    (
                        staging / "repo" / name
                        for name in ("binder/requirements.txt", "requirements.txt")
                        if (staging / "repo" / name).is_file()
                    ),
                    None,
                )
                if requirements is not None:
                    await self._run(
                        [sys.executable, "-m", "pip", "--python", str(staging / "env/bin/python"),
                         "install", "--disable-pip-version-check", "--progress-bar", "off",
                         "--no-input", *self.config.pip_args, "-r", str(requirements)],
                        emit, cwd=requirements.parent,
                    )  # fmt: skip
                (staging / ".complete").write_text(f"{commit}\n")
                staging.rename(target)
                self.build_count += 1
                return target
            finally:
                self.active_builds -= 1
                shutil.rmtree(staging, ignore_errors=True)

    async def _checkout(self, path: Path, commit: str, into: Path) -> None:
        await asyncio.to_thread(into.mkdir, parents=True)
        archive = await asyncio.create_subprocess_exec(
            "git", "-C", str(path), "archive", "--format=tar", commit,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        data, err = await asyncio.wait_for(archive.communicate(), 60)
        if archive.returncode != 0:
            msg = f"Could not check out {commit[:12]}: {err.decode(errors='replace').strip()}"
            raise BuildError(msg)
        untar = await asyncio.create_subprocess_exec(
            "tar", "-x", "-C", str(into), stdin=asyncio.subprocess.PIPE
        )
        await asyncio.wait_for(untar.communicate(data), 60)
        if untar.returncode != 0:
            msg = "Could not unpack the checkout"
            raise BuildError(msg)

    async def _run(self, command: list[str], emit: Emit, cwd: Path | None = None) -> None:
        """Run a build step, streaming its output lines; fail with the output's tail."""
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        tail: deque[str] = deque(maxlen=PIP_TAIL)
        assert process.stdout is not None  # noqa: S101
        try:
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                tail.append(line)
                await emit({"phase": "building", "message": line + "\n"})
            code = await asyncio.wait_for(process.wait(), 600)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if code != 0:
            text = "\n".join(tail)
            msg = f"Build failed: `{Path(command[0]).name} ... {command[-1]}` exited {code}\n{text}"
            raise BuildError(msg)

    # launching ------------------------------------------------------------------------------
    async def running_servers(self) -> list[dict[str, Any]]:
        answer = await self.hub.get("users", params={"state": "active"})
        answer.raise_for_status()
        servers: list[dict[str, Any]] = []
        for user in answer.json():
            servers.extend((user.get("servers") or {}).values())
        return servers

    async def launch(
        self, spec: Spec, commit: str, env_dir: Path, client_ip: str, emit: Emit
    ) -> dict[str, Any]:
        """Start a server for the build through the hub's REST API; the `ready` fields."""
        repo_url = spec.repo_url
        running = [
            s
            for s in await self.running_servers()
            if (s.get("user_options") or {}).get("repo_url") == repo_url
        ]
        if len(running) >= self.config.per_repo_quota:
            msg = f"Too many users running {repo_url}! Try again soon.\n"
            raise BuildError(msg)
        slug = re.sub(r"[^a-z0-9]+", "-", spec.repo.lower()).strip("-")[:26]
        username = f"{slug}-{secrets.token_hex(4)}"
        token = secrets.token_urlsafe(16)
        launch_host = self.config.launch_host
        persistent = f"v2/{spec.provider}/{Spec(spec.provider, spec.repo, commit).path}"
        env = {
            "BINDER_REPO_URL": repo_url,
            "BINDER_REF_URL": f"{repo_url}/tree/{commit}",
            "BINDER_LAUNCH_HOST": launch_host,
            "BINDER_REQUEST": f"v2/{spec}",
            "BINDER_PERSISTENT_REQUEST": persistent,
            "BINDER_CLIENT_IP": client_ip,
            "JUPYTER_IMAGE_SPEC": f"{self.config.registry}/{image_name(spec, commit)}",
            "BINDERFED_MEMBER": self.config.member,
            "BINDERFED_FEDERATION": self.config.federation_file or self.config.federation,
        }
        options = {
            "token": token,
            "env_dir": str(env_dir / "env"),
            "workdir": str(env_dir / "home" / username),
            "repo_url": repo_url,
            "idle": self.config.idle_timeout,
            "env": env,
        }
        await self._prepare_home(env_dir, username)
        try:
            created = await self.hub.post(f"users/{username}")
            if created.status_code not in {201, 409}:
                msg = f"the hub refused to create a user (HTTP {created.status_code})"
                raise BuildError(msg, 500)
            await emit({"phase": "launching", "message": "Launching server...\n"})
            started = await self.hub.post(f"users/{username}/servers/{SERVER_NAME}", json=options)
            if started.status_code not in {201, 202}:
                msg = f"the hub could not start the server (HTTP {started.status_code})"
                raise BuildError(msg, 500)
            await self._wait_ready(username, emit)
        except BaseException:
            await self.stop_user(username)  # nothing half-started is left behind
            raise
        self.launch_count += 1
        url = f"{self.config.hub_public_url}user/{username}/{SERVER_NAME}/"
        return {
            "phase": "ready",
            "message": f"server running at {url}\n",
            "image": image_name(spec, commit),
            "repo_url": repo_url,
            "token": token,
            "binder_ref_url": env["BINDER_REF_URL"],
            "binder_launch_host": launch_host,
            "binder_request": env["BINDER_REQUEST"],
            "binder_persistent_request": persistent,
            "binder_client_ip": client_ip,
            "url": url,
        }

    async def _prepare_home(self, env_dir: Path, username: str) -> None:
        """A fresh copy of the checkout as this session's home (sessions never share one)."""
        home = env_dir / "home" / username
        home.parent.mkdir(exist_ok=True)
        source = env_dir / "repo"
        await asyncio.to_thread(shutil.copytree, source, home, symlinks=True)

    async def _wait_ready(self, username: str, emit: Emit) -> None:
        """Relay the hub's own launch progress (its progress event stream) until ready."""
        path = f"users/{username}/servers/{SERVER_NAME}/progress"
        try:
            async with asyncio.timeout(self.config.launch_timeout):
                async with aconnect_sse(self.hub, "GET", path, timeout=None) as source:
                    async for sse in source.aiter_sse():
                        progress = json.loads(sse.data)
                        if progress.get("message"):
                            await emit(
                                {"phase": "launching", "message": progress["message"] + "\n"}
                            )
                        if progress.get("ready"):
                            return
                        if progress.get("failed"):
                            break
        except (TimeoutError, httpx.HTTPError, ValueError):
            pass
        msg = "Internal Server Error"
        raise BuildError(msg, 500)

    async def stop_user(self, username: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.hub.delete(f"users/{username}/servers/{SERVER_NAME}")
        with contextlib.suppress(httpx.HTTPError):
            await self.hub.delete(f"users/{username}")

    # health -----------------------------------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        checks: list[dict[str, Any]] = []
        try:
            servers = await self.running_servers()
            checks.append({"service": "JupyterHub API", "ok": True})
        except (httpx.HTTPError, ValueError):
            servers = []
            checks.append({"service": "JupyterHub API", "ok": False})
        cache_ok = self.cache.is_dir() and shutil.disk_usage(self.cache).free > 100 * 2**20
        checks.append({"service": "Docker registry", "ok": cache_ok, "what": "environment cache"})
        total = len(servers) + self.active_builds
        quota = self.config.pod_quota
        checks.append(
            {
                "service": "Pod quota",
                "ok": total < quota,
                "total_pods": total,
                "build_pods": self.active_builds,
                "user_pods": len(servers),
                "quota": quota,
                "_ignore_failure": True,
            }
        )
        ok = all(c["ok"] for c in checks if not c.get("_ignore_failure"))
        return {"ok": ok, "checks": checks}


async def serve(config: BuilderConfig, stop: asyncio.Event | None = None) -> None:
    service = BuildService(config)
    surface = Surface(service)
    server = tornado.httpserver.HTTPServer(surface.application(), idle_connection_timeout=60)
    server.add_sockets(tornado.netutil.bind_sockets(config.port, "127.0.0.1"))
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await surface.shutdown(server)
        await service.hub.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a BinderHub-compatible build service")
    parser.add_argument("--config", required=True, help="the member's builder JSON")
    args = parser.parse_args(argv)
    config = BuilderConfig.model_validate_json(Path(args.config).read_text())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config))


if __name__ == "__main__":
    main()
