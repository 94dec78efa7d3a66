"""repo2docker's rules for reading a repository's configuration, as pure functions.

Facts from jupyterhub/repo2docker (`buildpacks/base.py`, each buildpack's `detect()`, `app.py`'s
buildpack order): configuration is read from `binder/` or `.binder/` when the repository has
one (both is an error), else from the top level, never from both; the first buildpack whose
`detect()` holds wins, and mybinder.org runs with `default_buildpack=None` (since 2026-03-13),
so no buildpack means no build. Shared with the sandbox's build service, which reads
`runtime.txt` the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from binderfed_sdk._errors import RecipeError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

__all__ = [
    "BINDER_DIRS",
    "CONFIG_FILES",
    "NO_ENVIRONMENT",
    "Configuration",
    "Runtime",
    "detect_configuration",
    "parse_runtime",
]

#: repo2docker's words when no buildpack detects anything and there is no default one
#: (`repo2docker/app.py`, `Repo2Docker.build`), as mybinder.org fails since 2026-03
NO_ENVIRONMENT: Final = (
    "No environment specification found. See "
    "https://repo2docker.readthedocs.io/en/latest/configuration/ for supported files."
)

#: the folders that, when present, hold all of the configuration
BINDER_DIRS: Final = (".binder", "binder")

#: the files repo2docker looks up with `binder_path` (in the binder folder when there is one)
CONFIG_FILES: Final = (
    "environment.yml",
    "environment.yaml",
    "requirements.txt",
    "requirements3.txt",
    "Pipfile",
    "Pipfile.lock",
    "Project.toml",
    "JuliaProject.toml",
    "REQUIRE",
    "install.R",
    "apt.txt",
    "runtime.txt",
    "default.nix",
    "Dockerfile",
    "postBuild",
    "start",
)


@dataclass(frozen=True, slots=True)
class Runtime:
    """`runtime.txt`: `name-version`, `name-version-YYYY-MM-DD` or `name-YYYY-MM-DD`."""

    name: str
    version: str | None = None
    date: str | None = None

    @property
    def python(self) -> str | None:
        """`X.Y` for a Python runtime with a version (a bare `python-3` is 3's default)."""
        if self.name != "python" or self.version is None:
            return None
        # packaging comes with the sandbox's dependencies; the doctor never asks this
        from packaging.version import InvalidVersion, Version  # noqa: PLC0415

        try:
            release = Version(self.version).release
        except InvalidVersion:
            return None
        return ".".join(str(n) for n in release[:2])


def parse_runtime(text: str) -> Runtime:
    """`runtime.txt` read as repo2docker reads it (`BuildPack.runtime`)."""
    value = text.strip()
    parts = value.split("-")
    if len(parts) not in (2, 4, 5) or not all(parts):
        msg = f"Invalid runtime.txt: {value}"
        raise RecipeError(msg)
    date = "-".join(parts[-3:]) if len(parts) in (4, 5) else None
    if date is not None and not re.fullmatch(r"\d{4}-\d\d-\d\d", date):
        msg = f"Invalid runtime.txt date: {date}"
        raise RecipeError(msg)
    version = parts[1] if len(parts) in (2, 5) else None
    return Runtime(parts[0], version, date)


@dataclass(frozen=True, slots=True)
class Configuration:
    """Which configuration repo2docker would use (paths relative to the repository)."""

    #: "binder", ".binder" or "" (the top level)
    binder_dir: str
    #: the buildpack's short name ("conda", "python", ...), None: no build on mybinder.org
    buildpack: str | None
    #: the file that selected it
    selected_by: str | None = None
    #: top-level configuration files the binder folder makes repo2docker ignore
    shadowed: tuple[str, ...] = ()
    #: runtime.txt's reading, or why it cannot be read
    runtime: Runtime | None = None
    runtime_error: str | None = None
    #: repo2docker's refusal (both binder folders)
    error: str | None = None


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def detect_configuration(
    files: Collection[str],
    folders: Collection[str],
    read: Callable[[str], str],
    *,
    python_package: Callable[[], bool] = lambda: False,
) -> Configuration:
    """repo2docker's detection over a listing: `files` and `folders` are paths relative to
    the repository ('/'-separated), `read` gives a file's text, `python_package` says whether
    the top level is a Python package (setup.py, or pyproject.toml with [project] and
    [build-system]; asked only without a binder folder)."""
    present = [name for name in BINDER_DIRS if name in folders]
    if len(present) == 2:
        return Configuration(
            binder_dir="",
            buildpack=None,
            error="the repository has both a 'binder' and a '.binder' folder: repo2docker "
            "refuses it (they are exclusive)",
        )
    folder = present[0] if present else ""

    def has(name: str) -> bool:
        return _join(folder, name) in files

    shadowed = tuple(name for name in CONFIG_FILES if folder and name in files)
    runtime: Runtime | None = None
    runtime_error: str | None = None
    if has("runtime.txt"):
        try:
            runtime = parse_runtime(read(_join(folder, "runtime.txt")))
        except RecipeError as error:
            runtime_error = str(error)
        else:
            if runtime.name not in ("python", "r"):
                runtime_error = (
                    f"runtime.txt names {runtime.name!r}: repo2docker understands "
                    "python-<version> and r-<version>-<YYYY-MM-DD> (or r-<YYYY-MM-DD>)"
                )
    r_dated = runtime is not None and runtime.name == "r" and runtime.date is not None
    python_runtime = runtime is not None and runtime.name == "python"
    # repo2docker's buildpack order (app.py): the first that detects wins
    rules: list[tuple[str, str | None, bool]] = [
        ("docker", "Dockerfile", has("Dockerfile")),
        ("julia", "Project.toml", has("Project.toml")),
        ("julia", "JuliaProject.toml", has("JuliaProject.toml")),
        ("julia-require", "REQUIRE", has("REQUIRE")),
        ("nix", "default.nix", has("default.nix")),
        ("r", "runtime.txt", r_dated),
        ("r", "DESCRIPTION", not folder and "DESCRIPTION" in files),
        ("conda", "environment.yml", has("environment.yml")),
        ("conda", "environment.yaml", has("environment.yaml")),
        ("pipfile", "Pipfile", has("Pipfile") and (runtime is None or python_runtime)),
        ("pipfile", "Pipfile.lock", has("Pipfile.lock") and (runtime is None or python_runtime)),
        ("python", "runtime.txt", python_runtime),
        ("python", "requirements.txt", runtime is None and has("requirements.txt")),
    ]
    buildpack, selected = next(((name, by) for name, by, hit in rules if hit), (None, None))
    if buildpack is None and runtime is None and not folder and python_package():
        buildpack, selected = "python", "setup.py/pyproject.toml"
    return Configuration(
        binder_dir=folder,
        buildpack=buildpack,
        selected_by=None if selected is None else _join(folder, selected),
        shadowed=shadowed,
        runtime=runtime,
        runtime_error=runtime_error,
    )
