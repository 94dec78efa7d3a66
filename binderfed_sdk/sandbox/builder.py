"""The sandbox's BinderHub-compatible build service: one per member.

BinderHub's HTTP surface (`/build` event stream, `/health`, `/versions`, `/api/repoproviders`,
`/v2/` pages with build tokens, rate-limit headers) is `binderfed_sdk.sandbox.wire`'s, shared
with the test server; this module is the backend behind it, which really builds:

1. read the spec from the raw request path, as BinderHub does (`git/<file URL, encoded
   once>/<ref>` or an absolute path; `gh/<org>/<repo>/<ref>` maps onto `<repos>/<org>/<repo>`),
   build only repositories the user allowed (`allowed_file`, and everything in `repos_dir`),
   and resolve the ref;
2. check the commit out (`git archive` piped into `tar`), ask repo2docker which configuration
   it has (`_detect.py`, in a subprocess) and read it as Binder does (`_recipe.py`): the
   `binder/` or `.binder/` folder wins over the root; `requirements.txt`, `environment.yml`
   (its pip section, its conda packages tried from PyPI, the rest named as conda-only),
   `runtime.txt` (this Python's version only), `postBuild` (run, its output streamed),
   `start` (kept for the launch); other files are named as not supported here, and a
   repository without any environment file fails as on mybinder.org;
3. make a virtual environment for that commit, layered over this Python's packages, once
   (cached by commit), with uv (or pip: `installer`), whose output is streamed as
   `building` events; requirements this Python already satisfies are reported, not
   installed. Every step runs in a process group of its own with a deadline
   (`step_timeout`, `_steps.py`); a failed or cancelled build leaves nothing behind;
4. launch a JupyterLab from it through the member's JupyterHub REST API, with the session
   environment of a Binder pod, and answer `ready` with its URL and token. The session
   token reaches the spawner as a 0600 file, never in the options the hub stores.

Run: `python -m binderfed_sdk.sandbox.builder --config member.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import secrets
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx
import tornado.httpserver
import tornado.netutil
from httpx_sse import aconnect_sse
from packaging.utils import canonicalize_name
from pydantic import BaseModel, ConfigDict
from tornado.iostream import StreamClosedError

from binderfed_sdk import __version__
from binderfed_sdk._errors import SpecError
from binderfed_sdk.sandbox import _detect
from binderfed_sdk.sandbox._recipe import (
    EXCLUSIVE_BUILDPACKS,
    NO_ENVIRONMENT,
    UNSUPPORTED_FILES,
    CondaEnvironment,
    Detection,
    RecipeError,
    conda_to_pip,
    parse_environment,
    parse_runtime,
    satisfied_by,
)
from binderfed_sdk.sandbox._steps import BuildError, run_pipe, run_step
from binderfed_sdk.sandbox.wire import (
    Backend,
    BuildRequest,
    BuildStream,
    ClientGone,
    Counters,
    RateLimit,
    RateLimiter,
    Surface,
    loopback_hosts,
)
from binderfed_sdk.spec._spec import Provider, Spec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from typing import TypeAlias

    #: where a build step writes its events
    Emit: TypeAlias = Callable[[dict[str, Any]], Awaitable[None]]

__all__ = ["BuildError", "BuildService", "BuilderConfig"]

_log = logging.getLogger("binderfed.sandbox.builder")

#: each launch is a named server of a user made for it, as BinderHub's launcher does
SERVER_NAME = "binder"
#: the trailer of a `--working-tree` snapshot commit (made by `binderfed sandbox launch`)
WORKING_TREE_TRAILER = "Binderfed-Working-Tree"
#: the recipe of a built environment, read again at each launch (for `start`)
RECIPE_FILE = "recipe.json"

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
    #: extra installer arguments (an index: `--index-url URL`), for pip and uv alike
    pip_args: list[str] = []
    #: `{"repositories": ["/abs/realpath", ...]}`, re-read at each build: the local
    #: repositories the user allowed (everything in `repos_dir` always is). None: the
    #: state folder's `allowed.json` (`<cache_dir>/../allowed.json`)
    allowed_file: str | None = None
    installer: Literal["uv", "pip"] = "uv"
    #: the overall deadline of each build step, in seconds
    step_timeout: float = 1800.0
    #: a 0700 folder for per-launch token files (None: `<cache_dir>/../secrets`)
    secrets_dir: str | None = None


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


def base_packages() -> dict[str, str]:
    """This Python's installed distributions (canonical name -> version): the base every
    session environment is layered over."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def session_environment(env_dir: Path, home: Path) -> dict[str, str]:
    """The variables a session's processes see for its environment (postBuild's too)."""
    base = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONHOME", "PYTHONPATH"}}
    env.update(
        {
            "PATH": f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(env_dir),
            "HOME": str(home),
            "REPO_DIR": str(home),
            # as the spawner: Jupyter's data and config of the environment it layers over
            "JUPYTERLAB_DIR": str(base / "share" / "jupyter" / "lab"),
            "JUPYTER_PATH": str(base / "share" / "jupyter"),
            "JUPYTER_CONFIG_PATH": str(base / "etc" / "jupyter"),
        }
    )
    return env


def forget(path: str) -> None:
    """Remove a file that may be gone already."""
    Path(path).unlink(missing_ok=True)


def run_command(script: Path) -> list[str]:
    """How a repository's script runs: itself when it names its interpreter (`#!`), as
    repo2docker runs it after `chmod +x`; else with bash."""
    with script.open("rb") as file:
        shebang = file.read(2) == b"#!"
    if shebang:
        script.chmod(script.stat().st_mode | 0o111)
        return [str(script)]
    return ["bash", str(script)]


class BuildService(Backend):
    """The build service behind BinderHub's endpoints (binderfed_sdk.sandbox.wire): builds
    in progress, environments, rate limits."""

    #: the redirector's launch pages are the prime's, whose tokens any member takes
    check_token_origin = False

    def __init__(self, config: BuilderConfig) -> None:
        self.config = config
        self.cache = Path(config.cache_dir)
        self.cache.mkdir(parents=True, exist_ok=True)
        state_dir = self.cache.parent
        self.allowed_file = Path(config.allowed_file or state_dir / "allowed.json")
        self.secrets_dir = Path(config.secrets_dir or state_dir / "secrets")
        self.secret = config.secret.encode()
        self.keepalive_interval = config.keepalive_interval
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        #: this Python's packages (canonical name -> version), read at the first build
        self.base: dict[str, str] | None = None
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
            "builder_info": {"build_image": f"binderfed-sandbox {self.config.installer} builder"},
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
            # the raw path, decoded once here (wire.py never unquotes it), as BinderHub reads it
            spec = Spec.parse(f"{request.provider}/{request.spec}")
        except SpecError as error:
            await stream.fail(str(error))
            return
        username: str | None = None
        try:
            await stream.emit({"phase": "waiting", "message": "Waiting for build to start...\n"})
            path, ref = self.repository(spec)
            commit = await self.resolve_ref(path, ref)
            await self._describe(path, commit, stream.emit)
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
        except httpx.HTTPError as error:  # the member's hub is down: say so, do not just end
            _log.warning("the hub did not answer: %s", type(error).__name__)
            await stream.fail(
                f"Could not launch: this member's JupyterHub ({self.config.hub_api_url}) "
                f"is not answering ({type(error).__name__})",
                500,
            )
        except (ClientGone, StreamClosedError, asyncio.CancelledError):
            raise
        except Exception:  # noqa: BLE001 - a bug here must still end the stream with `failed`
            _log.exception("build of %s failed", spec)
            await stream.fail("Internal Server Error", 500)
        finally:
            if username is not None:  # started, but the client never got `ready`
                await self.stop_user(username)

    # repositories ---------------------------------------------------------------------------
    def repository(self, spec: Spec) -> tuple[Path, str]:
        """The local repository a spec names (only one the user allowed), and its ref."""
        if spec.provider == Provider.GH:
            path = Path(self.config.repos_dir, *spec.repo.split("/"))
        elif spec.provider == Provider.GIT:
            parts = urlsplit(spec.repo)
            if parts.scheme not in {"", "file"}:
                msg = f"the sandbox builds local repositories only, not {parts.scheme} URLs"
                raise BuildError(msg)
            if parts.netloc not in {"", "localhost"}:
                msg = f"the sandbox builds local repositories only, not ones on {parts.netloc}"
                raise BuildError(msg)
            # the spec is decoded once already: the URL's path is the path as it is
            path = Path(parts.path)
            if not path.is_absolute():
                msg = f"a local repository is named by its absolute path, not {parts.path!r}"
                raise BuildError(msg)
        else:
            msg = f"the sandbox does not build {spec.provider} repositories"
            raise BuildError(msg)
        # before anything is looked at: a hostile page may not learn what exists on disk
        if not self.allowed(path):
            where = os.path.realpath(path)
            msg = (
                f"the sandbox builds only the repositories it was given, and {where} is not "
                f"one of them. To allow it: binderfed sandbox launch {where} "
                f"(or binderfed sandbox up --repo {where})"
            )
            raise BuildError(msg, 403)
        if not (path / ".git").exists() and not (path / "HEAD").exists():
            msg = f"Repository {spec.repo} not found"
            raise BuildError(msg)
        return path, spec.ref or "HEAD"

    def allowed(self, path: Path) -> bool:
        """Whether the user allowed this repository (compared by real path: no `..`, no
        symbolic link leads out)."""
        real = Path(os.path.realpath(path))
        repos = Path(os.path.realpath(self.config.repos_dir))
        if real.is_relative_to(repos) and real != repos:
            return True
        return str(real) in self._allowed_repositories()

    def _allowed_repositories(self) -> set[str]:
        """The allow list, read again at each build (the manager adds to it)."""
        try:
            data = json.loads(self.allowed_file.read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as error:
            _log.warning("the allow list %s is unreadable: %s", self.allowed_file, error)
            return set()
        entries = data.get("repositories") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            return set()
        return {
            os.path.realpath(e) for e in entries if isinstance(e, str) and Path(e).is_absolute()
        }

    async def _git(self, path: Path, *args: str) -> tuple[int, str]:
        result = await run_step(
            ["git", "-C", str(path), *args],
            what=f"git {args[0]}",
            timeout=min(self.config.step_timeout, 60.0),
            capture=True,
        )
        return result.code, result.output.decode(errors="replace")

    async def resolve_ref(self, path: Path, ref: str) -> str:
        code, out = await self._git(path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        commit = out.strip()
        if code != 0 or not re.fullmatch(r"[0-9a-f]{40}", commit):
            msg = f"Could not resolve ref for {path.name}@{ref}. Double check your URL."
            raise BuildError(msg)
        return commit

    async def _describe(self, path: Path, commit: str, emit: Emit) -> None:
        """A `--working-tree` snapshot commit is shown as such."""
        code, message = await self._git(path, "log", "-1", "--format=%B", commit)
        if code != 0:
            return
        for line in reversed(message.strip().splitlines()):
            key, _, value = line.partition(":")
            if key.strip() == WORKING_TREE_TRAILER:
                value = value.strip()
                base = f"on top of {value[:12]}" if value != "none" else "(no commit yet)"
                text = f"working tree: uncommitted changes {base}"
                await emit({"phase": "fetching", "message": f"{text}\n"})
                return

    def env_dir(self, path: Path, commit: str) -> Path:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        return self.cache / "envs" / f"{key}-{commit}"

    # building -------------------------------------------------------------------------------
    async def build_environment(self, path: Path, commit: str, emit: Emit) -> Path:
        """The environment for `commit`, built once; each step's output goes to `emit`."""
        target = self.env_dir(path, commit)
        async with self._locks[str(target)]:
            if (target / ".complete").exists():
                return target
            staging = target.with_name(target.name + f".building-{secrets.token_hex(4)}")
            self.active_builds += 1
            try:
                await emit({"phase": "fetching", "message": f"Checking out {commit[:12]}...\n"})
                checkout = staging / "repo"
                await self._checkout(path, commit, checkout)
                recipe = await self.detect(checkout, emit)
                await self._make_environment(recipe, checkout, staging / "env", emit)
                (staging / RECIPE_FILE).write_text(recipe.model_dump_json())
                (staging / ".complete").write_text(f"{commit}\n")
                try:
                    staging.rename(target)
                except OSError:
                    # the members' build services share the cache, each with its own locks:
                    # another one built this commit at the same time and finished first
                    if not (target / ".complete").exists():
                        raise
                self.build_count += 1
                return target
            finally:
                self.active_builds -= 1
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, staging, ignore_errors=True))

    async def _checkout(self, path: Path, commit: str, into: Path) -> None:
        """`git archive` streamed into `tar` through a pipe: no checkout held in memory."""
        await asyncio.to_thread(into.mkdir, parents=True)
        await run_pipe(
            ["git", "-C", str(path), "archive", "--format=tar", commit],
            ["tar", "-x", "-C", str(into)],
            what=f"checking out {commit[:12]}",
            timeout=self.config.step_timeout,
        )

    async def detect(self, checkout: Path, emit: Emit) -> Detection:
        """repo2docker's detection of the checkout (in a subprocess: it changes directory),
        with what the sandbox cannot honour named in build events."""
        result = await run_step(
            [sys.executable, _detect.__file__, str(checkout)],
            what="repo2docker's detection",
            timeout=min(self.config.step_timeout, 120.0),
            capture=True,
        )
        if result.code != 0:
            text = "\n".join(result.tail)
            msg = f"Build failed: repo2docker's detection exited {result.code}\n{text}"
            raise BuildError(msg)
        try:
            recipe = Detection.model_validate_json(result.output)
        except ValueError as error:
            msg = f"Build failed: repo2docker's detection gave an unexpected answer ({error})"
            raise BuildError(msg) from None
        if recipe.error is not None:
            raise BuildError(recipe.error)
        for name in recipe.unsupported:
            what = UNSUPPORTED_FILES.get(Path(name).name, "a runtime other than Python")
            await self._say(emit, f"{name}: not supported in the sandbox ({what}); skipped")
        if recipe.buildpack is None:
            raise BuildError(NO_ENVIRONMENT)
        exclusive = EXCLUSIVE_BUILDPACKS.get(recipe.buildpack)
        if exclusive is not None:
            msg = (
                f"Build failed: repo2docker would build this repository from "
                f"{recipe.binder_dir + '/' if recipe.binder_dir else ''}{exclusive} alone, "
                "which the sandbox cannot build"
            )
            raise BuildError(msg)
        where = f"{recipe.binder_dir}/" if recipe.binder_dir else "the repository's root"
        await self._say(emit, f"Using the configuration in {where} ({recipe.buildpack})")
        return recipe

    async def _say(self, emit: Emit, text: str) -> None:
        await emit({"phase": "building", "message": f"{text}\n"})

    async def _make_environment(
        self, recipe: Detection, checkout: Path, env_dir: Path, emit: Emit
    ) -> None:
        environment = None
        if recipe.environment is not None:
            try:
                environment = parse_environment((checkout / recipe.environment).read_text())
            except RecipeError as error:
                raise BuildError(f"Build failed: {error}") from None
        await self._check_python(recipe, checkout, environment.python if environment else None)
        await self._say(emit, f"Creating the environment ({self.config.installer})...")
        await self.create_environment(env_dir, emit)
        layer_over_this_environment(env_dir)
        # what repo2docker's picked buildpack installs: a conda buildpack environment.yml
        # only; Python (and R and Julia, which build on it) requirements.txt and the package
        if environment is not None and recipe.environment is not None:
            await self._install_environment(
                environment, (checkout / recipe.environment).parent, env_dir, emit
            )
        if recipe.requirements is not None:
            if recipe.buildpack == "CondaBuildPack":
                await self._say(
                    emit,
                    f"{recipe.requirements}: not used (repo2docker installs environment.yml "
                    "then, not requirements.txt)",
                )
            else:
                requirements = checkout / recipe.requirements
                # as repo2docker: `pip install -r binder/requirements.txt` from the
                # repository's root, so `-e .` there is the repository
                await self.install(
                    requirements.read_text(errors="replace").splitlines(),
                    requirements.parent, env_dir, emit, label=recipe.requirements, cwd=checkout,
                )  # fmt: skip
        if recipe.python_package and recipe.buildpack == "PythonBuildPack":
            await self.install(["."], checkout, env_dir, emit, label="the repository's package")
        for script in recipe.post_build:
            await self._post_build(checkout / script, checkout, env_dir, emit)
        if recipe.start is not None and (checkout / recipe.start).is_file():
            start = checkout / recipe.start  # executable, as repo2docker's `RUN chmod +x`
            start.chmod(start.stat().st_mode | 0o111)

    async def _check_python(
        self, recipe: Detection, checkout: Path, conda_python: str | None
    ) -> None:
        """Sessions run on this Python (JupyterLab and binderfed come from its environment):
        a repository asking for another version fails, naming it and what there is."""
        asked, source = conda_python, "environment.yml"
        if recipe.runtime is not None:
            try:
                runtime = parse_runtime((checkout / recipe.runtime).read_text())
            except RecipeError as error:
                raise BuildError(f"Build failed: {error}") from None
            if runtime.python is not None:
                asked, source = runtime.python, "runtime.txt"
        ours = f"{sys.version_info.major}.{sys.version_info.minor}"
        if asked is None or asked == ours:
            return
        found = await self._pythons()
        msg = (
            f"Build failed: {source} asks for Python {asked}, but sandbox sessions run on the "
            f"sandbox's own Python {ours} (JupyterLab and binderfed come from its environment). "
            f"Pythons on this machine: {', '.join(found) or 'none found'}. "
            f"Run the sandbox from a Python {asked} environment to build this repository."
        )
        raise BuildError(msg)

    async def _pythons(self) -> list[str]:
        """The Python versions on this machine (X.Y), as uv finds them (never downloads)."""
        import uv  # noqa: PLC0415 - only when a repository asks for another Python

        ours = f"{sys.version_info.major}.{sys.version_info.minor}"
        with contextlib.suppress(BuildError, OSError, ValueError):
            result = await run_step(
                [uv.find_uv_bin(), "python", "list", "--only-installed", "--output-format",
                 "json"],
                what="uv python list", timeout=30.0, capture=True, env=self._uv_env(),
            )  # fmt: skip
            versions = {
                ".".join(str(e["version"]).split(".")[:2])
                for e in json.loads(result.output or b"[]")
                if isinstance(e, dict) and "version" in e
            }
            return sorted(versions | {ours}, key=lambda v: tuple(int(n) for n in v.split(".")))
        return [ours]

    def _uv_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "UV_PYTHON_DOWNLOADS": "never",  # never a Python from the internet
            "UV_CACHE_DIR": str(self.cache / "uv"),
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }

    async def _step(
        self, command: list[str], emit: Emit, *, what: str, cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        """A build step whose output is streamed; fail with its tail."""

        async def line(text: str) -> None:
            await emit({"phase": "building", "message": text + "\n"})

        result = await run_step(
            command, what=what, timeout=self.config.step_timeout, on_line=line, cwd=cwd, env=env
        )
        if result.code != 0:
            text = "\n".join(result.tail)
            msg = f"Build failed: {what} exited {result.code}\n{text}"
            raise BuildError(msg)

    async def create_environment(self, env_dir: Path, emit: Emit) -> None:
        if self.config.installer == "uv":
            import uv  # noqa: PLC0415 - the pip builder does without

            # relocatable: the environment is built in a staging folder, then renamed
            command = [uv.find_uv_bin(), "venv", "--relocatable", "--python", sys.executable,
                       str(env_dir)]  # fmt: skip
            await self._step(command, emit, what="uv venv", env=self._uv_env())
        else:
            command = [sys.executable, "-m", "venv", "--without-pip", str(env_dir)]
            await self._step(command, emit, what="python -m venv")

    def installed_here(self) -> dict[str, str]:
        if self.base is None:
            self.base = base_packages()
        return self.base

    async def _in_base(self, line: str, emit: Emit) -> bool:
        """Whether this Python satisfies a requirement line already (said in an event)."""
        have = satisfied_by(line, self.installed_here())
        if have is not None:
            requirement = line.split(" #", 1)[0].strip()
            await self._say(
                emit,
                f"Requirement already satisfied: {requirement} (already in the sandbox's "
                f"base environment: {have})",
            )
        return have is not None

    async def install(
        self,
        lines: Iterable[str],
        folder: Path,
        env_dir: Path,
        emit: Emit,
        *,
        label: str,
        cwd: Path | None = None,
    ) -> None:
        """Install requirement lines into `env_dir`: as a requirements file in `folder` (its
        `-r` and `-c` are read from there), run from `cwd` (default: `folder`; local paths
        are read from there, as pip and conda do). The ones this Python already satisfies
        are reported, not installed: the installer would not see them (uv ignores the `.pth`
        the environment is layered with), and leaving them out keeps such builds offline."""
        wanted = [
            line
            for line in lines
            if line.split(" #", 1)[0].strip()
            and not line.lstrip().startswith("#")
            and not await self._in_base(line, emit)
        ]
        if not wanted:
            return
        listing = folder / f".binderfed-requirements-{secrets.token_hex(4)}.txt"
        listing.write_text("".join(f"{line}\n" for line in wanted))
        try:
            if self.config.installer == "uv":
                import uv  # noqa: PLC0415

                command = [uv.find_uv_bin(), "pip", "install", "--python",
                           str(env_dir / "bin" / "python"), *self.config.pip_args,
                           "-r", str(listing)]  # fmt: skip
                env = self._uv_env()
            else:
                command = [sys.executable, "-m", "pip", "--python", str(env_dir / "bin/python"),
                           "install", "--disable-pip-version-check", "--progress-bar", "off",
                           "--no-input", *self.config.pip_args, "-r", str(listing)]  # fmt: skip
                env = {**os.environ, "PIP_CACHE_DIR": str(self.cache / "pip")}
            await self._step(
                command, emit, what=f"installing {label} ({self.config.installer})",
                cwd=cwd or folder, env=env,
            )  # fmt: skip
        finally:
            listing.unlink(missing_ok=True)

    async def _install_environment(
        self, environment: CondaEnvironment, folder: Path, env_dir: Path, emit: Emit
    ) -> None:
        """An environment.yml: its pip section, then its conda packages tried from PyPI under
        the same name; the ones that cannot be installed are named as conda-only."""
        if environment.pip:
            await self.install(environment.pip, folder, env_dir, emit, label="environment.yml pip")
        conda_only: list[str] = []
        candidates: list[tuple[str, str]] = []
        for entry in environment.conda:
            requirement = conda_to_pip(entry)
            if requirement is None:
                conda_only.append(entry)
            elif not await self._in_base(requirement, emit):
                candidates.append((entry, requirement))
        if candidates:
            names = ", ".join(entry for entry, _ in candidates)
            await self._say(emit, f"environment.yml: trying conda packages from PyPI: {names}")
            try:
                await self.install(
                    [r for _, r in candidates], folder, env_dir, emit, label="conda packages"
                )
            except BuildError:
                if len(candidates) == 1:
                    conda_only.append(candidates[0][0])
                else:  # which ones PyPI lacks: each alone
                    await self._say(emit, "environment.yml: trying each conda package alone")
                    for entry, requirement in candidates:
                        try:
                            await self.install(
                                [requirement], folder, env_dir, emit, label=f"conda {entry}"
                            )
                        except BuildError:
                            conda_only.append(entry)
        if conda_only:
            await self._say(
                emit,
                "environment.yml: conda-only, not buildable in the sandbox (not installable "
                f"from PyPI): {', '.join(conda_only)}",
            )

    async def _post_build(self, script: Path, checkout: Path, env_dir: Path, emit: Emit) -> None:
        """postBuild, in the session's environment, from the checkout; a failure fails the
        build."""
        await self._say(emit, f"Running {script.relative_to(checkout)}...")
        await self._step(
            run_command(script), emit, what=str(script.relative_to(checkout)), cwd=checkout,
            env=session_environment(env_dir, checkout),
        )  # fmt: skip

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
        options: dict[str, Any] = {
            # the hub stores user_options in its database: the token goes as a file's path
            "token_file": str(self._token_file(username, token)),
            "env_dir": str(env_dir / "env"),
            "workdir": str(env_dir / "home" / username),
            "repo_url": repo_url,
            "idle": self.config.idle_timeout,
            "env": env,
        }
        start = self._start_script(env_dir)
        if start is not None:
            options["start"] = start
        try:
            await self._prepare_home(env_dir, username)
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
        finally:  # read and removed by the spawner; never left behind
            forget(options["token_file"])
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

    def _token_file(self, username: str, token: str) -> Path:
        """The session token in a 0600 file of a 0700 folder, for the spawner to read."""
        self.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.secrets_dir.chmod(0o700)
        path = self.secrets_dir / f"{username}-{secrets.token_hex(8)}.token"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(token)
        return path

    @staticmethod
    def _start_script(env_dir: Path) -> str | None:
        """The repository's `start` (relative to its checkout), as detected at build time."""
        try:
            recipe = Detection.model_validate_json((env_dir / RECIPE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return recipe.start

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
    # DNS rebinding: a page of another site whose name now points at 127.0.0.1 sends its
    # own name as Host; only this service's loopback address is answered
    surface = Surface(service, allowed_hosts=loopback_hosts(config.port))
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
