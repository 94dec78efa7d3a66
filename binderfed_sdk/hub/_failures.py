"""Why a build failed, in plain words, read from the hub's last log lines.

Only failures whose cause is certain get words here; the rest keep the hub's own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ENVIRONMENT_FILES", "NO_ENVIRONMENT", "Explanation", "explain"]

# What repo2docker logs when no buildpack detects the repository and its default buildpack is
# off (repo2docker app.py, `Repo2Docker.build`, since 2026-03-09). mybinder.org turned it off
# in 2026-03 (mybinder.org-deploy mybinder/values.yaml: `--Repo2Docker.default_buildpack=None`).
# The line comes as an event with no phase, then the hub's `failed` event has no message.
NO_ENVIRONMENT: Final = "No environment specification found"

#: The files that make one of repo2docker's buildpacks detect a repository (each buildpack's
#: `detect()`), looked for in `binder/` or `.binder/` when the repository has that folder,
#: else at its top level. pyproject.toml (with [project] and [build-system]), setup.py and
#: DESCRIPTION count only at the top level of a repository without such a folder; runtime.txt
#: only when it names python-<version> or r-<...>-<YYYY-MM-DD>. apt.txt, postBuild, start and
#: install.R configure a build but select none.
ENVIRONMENT_FILES: Final = (
    "environment.yml",
    "environment.yaml",
    "requirements.txt",
    "Pipfile",
    "Pipfile.lock",
    "pyproject.toml",
    "setup.py",
    "Project.toml",
    "JuliaProject.toml",
    "DESCRIPTION",
    "runtime.txt",
    "default.nix",
    "Dockerfile",
)

_NO_ENVIRONMENT_HINT: Final = (
    "the repository has no environment file, and this hub builds none without one "
    "(mybinder.org's rule since March 2026: its default buildpack is off). Add one at the top "
    "level or in binder/: environment.yml (conda), requirements.txt (pip), Pipfile, "
    "Project.toml (Julia), runtime.txt naming python-<version> or r-<YYYY-MM-DD>, default.nix "
    "or a Dockerfile; or, in a repository without binder/, a pyproject.toml with [project] and "
    "[build-system], setup.py, or DESCRIPTION (R). apt.txt, postBuild and install.R alone "
    "are not enough"
)


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a build failed (`hint`) and, when files would fix it, which (`fix_files`)."""

    hint: str
    fix_files: tuple[str, ...] = ()


def explain(log: Sequence[str]) -> Explanation | None:
    """The cause of a failed build, when its log lines make it certain; else None."""
    if any(NO_ENVIRONMENT in line for line in log):
        return Explanation(_NO_ENVIRONMENT_HINT, ENVIRONMENT_FILES)
    return None
