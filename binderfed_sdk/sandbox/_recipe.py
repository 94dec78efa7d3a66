"""How Binder reads a repository, as typed values, and the pure parts of reading it.

Which configuration a repository has is repo2docker's to say: `_detect.py` runs its own
buildpacks' `detect()` (with mybinder.org's `default_buildpack=None`) in a subprocess, and
its answer is a `Detection`. What the sandbox then does with the files is here, in pure
functions (no I/O but the text handed in): `environment.yml` (`parse_environment`, conda
entries turned into PyPI requirements by `conda_to_pip`), `runtime.txt` (`parse_runtime`),
and which requirements this Python's own environment already satisfies (`satisfied_by`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict

# repo2docker's rules that need no sandbox live with the doctor (which the sandbox may import)
from binderfed_sdk._errors import RecipeError
from binderfed_sdk.doctor._repo2docker import NO_ENVIRONMENT, Runtime, parse_runtime

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "NO_ENVIRONMENT",
    "UNSUPPORTED_FILES",
    "CondaEnvironment",
    "Detection",
    "RecipeError",
    "Runtime",
    "conda_to_pip",
    "parse_environment",
    "parse_runtime",
    "satisfied_by",
]

#: configuration files repo2docker reads that the sandbox cannot honour (no root, no conda,
#: no R, Julia or Nix): each present one is named in a build event
UNSUPPORTED_FILES = {
    "apt.txt": "system packages (apt)",
    "Project.toml": "a Julia environment",
    "JuliaProject.toml": "a Julia environment",
    "REQUIRE": "a Julia environment",
    "install.R": "R packages",
    "DESCRIPTION": "an R package",
    "Dockerfile": "a Docker image",
    "default.nix": "a Nix environment",
    "Pipfile": "a Pipenv environment",
    "Pipfile.lock": "a Pipenv environment",
}

#: repo2docker buildpacks whose image is made from one file only, all others ignored: the
#: sandbox cannot build those at all
EXCLUSIVE_BUILDPACKS = {
    "LegacyBinderDockerBuildPack": "Dockerfile",
    "DockerBuildPack": "Dockerfile",
    "NixBuildPack": "default.nix",
    "PipfileBuildPack": "Pipfile",
}


class Detection(BaseModel):
    """What repo2docker's detection says of a checkout (all paths relative to it)."""

    model_config = ConfigDict(frozen=True)

    #: the buildpack repo2docker picks (its class name); None: none detects anything
    buildpack: str | None
    #: "binder", ".binder" or "" (the root): configuration is read from there only
    binder_dir: str = ""
    environment: str | None = None
    requirements: str | None = None
    runtime: str | None = None
    post_build: list[str] = []
    start: str | None = None
    #: the root is a Python package (setup.py, or pyproject.toml with a build system)
    python_package: bool = False
    #: configuration files present that the sandbox does not support
    unsupported: list[str] = []
    #: repo2docker's refusal (both binder/ and .binder/, an invalid runtime.txt)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CondaEnvironment:
    """The parts of an `environment.yml` the sandbox uses."""

    #: `python=X.Y` among the conda dependencies
    python: str | None = None
    #: the `pip:` section's lines, as pip takes them
    pip: tuple[str, ...] = ()
    #: the other conda dependencies, as written
    conda: tuple[str, ...] = ()


def parse_environment(text: str) -> CondaEnvironment:
    """The Python version, pip section and conda packages of an `environment.yml`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        msg = f"environment.yml is not valid YAML: {error}"
        raise RecipeError(msg) from None
    if data is None:
        return CondaEnvironment()
    if not isinstance(data, dict):
        msg = f"environment.yml must be a mapping, not a {type(data).__name__}"
        raise RecipeError(msg)
    dependencies = data.get("dependencies") or []
    if not isinstance(dependencies, list):
        msg = "environment.yml: `dependencies` must be a list"
        raise RecipeError(msg)
    python: str | None = None
    pip: list[str] = []
    conda: list[str] = []
    for entry in dependencies:
        if isinstance(entry, dict):
            lines = entry.get("pip")
            if set(entry) != {"pip"} or not isinstance(lines, list):
                msg = f"environment.yml: unexpected dependency {entry!r}"
                raise RecipeError(msg)
            pip += [str(line) for line in lines]
            continue
        entry = str(entry).strip()  # noqa: PLW2901 - YAML may give a number
        name = _conda_name(entry)
        if name == "python":
            python = _conda_python(entry)
        elif name != "pip" and entry:
            conda.append(entry)
    return CondaEnvironment(python=python, pip=tuple(pip), conda=tuple(conda))


def _conda_name(entry: str) -> str:
    """The package name of a conda match spec (`channel::name=1.2=build`, `name >=1.2`)."""
    entry = entry.split("::", 1)[-1]
    return re.split(r"[\s=<>!~\[]", entry, maxsplit=1)[0].lower()


def _conda_python(entry: str) -> str | None:
    """`X.Y` of `python=3.11`, `python==3.11.4`, `python=3.11.*` (None: no version)."""
    found = re.search(r"(\d+)\.(\d+)", entry.split("::", 1)[-1])
    return f"{found[1]}.{found[2]}" if found else None


def conda_to_pip(entry: str) -> str | None:
    """A conda dependency as a PyPI requirement under the same name, or None when it cannot
    be one (a build string, conda's `|`, a name or version PEP 508 does not allow).

    conda's `name=1.2` and `name 1.2` mean 1.2 or any 1.2.x (PEP 440 `==1.2.*`); `==`,
    `>=`, `<=`, `>`, `<`, `!=` and `,` mean what they mean in PEP 440.
    """
    match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", entry.split("::", 1)[-1].strip())
    if match is None:
        return None
    name, tokens = match[1], match[2].split()
    if (
        len(tokens) >= 2
        and not re.match(r"[<>=!~,]", tokens[-1])
        and not re.search(r"[<>=!~,]$", tokens[-2])
    ):
        return None  # `name 1.2 py311_0`: a build string
    version = "".join(tokens)
    if "|" in version:
        return None
    if version.startswith("=="):
        if "=" in version[2:]:
            return None  # `==1.2=build`
        pep440 = f"{name}{version}"
    elif version.startswith("=") or version[:1].isdigit():
        body = version.removeprefix("=")
        if "=" in body:
            return None  # `=1.2=build`
        pep440 = f"{name}=={body.rstrip('*').rstrip('.')}.*"
    else:
        pep440 = f"{name}{version}"
    try:
        Requirement(pep440)
    except InvalidRequirement:
        return None
    return pep440


def satisfied_by(line: str, installed: Mapping[str, str]) -> str | None:
    """The installed `name version` that satisfies a requirements-file line, else None.

    Only a plain requirement (no URL, no extras, no options, markers that hold here) can be
    satisfied; `installed` maps canonical names to versions (this Python's packages).
    """
    text = line.split(" #", 1)[0].strip()
    if not text or text.startswith(("-", "#")):
        return None
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return None
    if requirement.url or requirement.extras:
        return None
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None
    version = installed.get(canonicalize_name(requirement.name))
    if version is None:
        return None
    try:
        if not requirement.specifier.contains(Version(version), prereleases=True):
            return None
    except InvalidVersion:
        return None
    return f"{requirement.name} {version}"
