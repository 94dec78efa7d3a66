"""repo2docker's own detection of a checkout, as a program: `python _detect.py CHECKOUT`.

It prints one JSON object (the fields of `_recipe.Detection`). The build service runs it in
a subprocess with a deadline (`_steps.run_step`) because repo2docker's buildpacks read the
current directory (`Repo2Docker.build` runs them under `chdir`), which an async server
serving other builds must never change; and so a buildpack that hangs or crashes costs one
build, not the service.

What is repo2docker's here: the buildpacks in its own order (`Repo2Docker.buildpacks`'
default), the first whose `detect()` is true wins, and with mybinder.org's
`default_buildpack=None` none winning means no environment; `binder_dir` (`binder/` or
`.binder/` wins over the root, both is an error); `runtime.txt` parsing;
`get_post_build_scripts()`, `get_start_script()`, `environment_yaml_path`. Where repo2docker
has no public answer, this reads the files itself, in repo2docker's places: the
requirements file (its Python buildpack reads `binder_path("requirements.txt")` in a
private method) and whether the root is a Python package (`_is_python_package`, private:
called, with a fallback). The files the sandbox cannot honour are listed from
`_recipe.UNSUPPORTED_FILES`, looked up with `binder_path`.

This file imports only the standard library at the top and nothing of binderfed: it runs
as a script, without the package's import cost.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

#: mirrors `_recipe.UNSUPPORTED_FILES` (checked by the tests)
UNSUPPORTED = (
    "apt.txt", "Project.toml", "JuliaProject.toml", "REQUIRE", "install.R", "DESCRIPTION",
    "Dockerfile", "default.nix", "Pipfile", "Pipfile.lock",
)  # fmt: skip


def detect(checkout: str) -> dict[str, Any]:
    """repo2docker's answer for `checkout` (this process's working directory changes)."""
    from repo2docker.app import Repo2Docker  # noqa: PLC0415 - only in the subprocess
    from repo2docker.buildpacks import BaseImage  # noqa: PLC0415

    os.chdir(checkout)  # repo2docker's buildpacks read the current directory
    app = Repo2Docker()
    base = BaseImage(base_image=app.base_image)
    try:
        binder_dir = base.binder_dir
    except RuntimeError as error:  # both binder/ and .binder/
        return {"buildpack": None, "error": str(error)}
    picked = None
    try:
        for buildpack_class in app.buildpacks:
            buildpack = buildpack_class(base_image=app.base_image)
            if buildpack.detect():
                picked = buildpack
                break
        # mybinder.org: `default_buildpack=None`, so no default Python environment
        runtime = base.runtime
    except ValueError as error:  # an invalid runtime.txt
        return {"buildpack": None, "binder_dir": binder_dir, "error": str(error)}
    result: dict[str, Any] = {
        "buildpack": type(picked).__name__ if picked is not None else None,
        "binder_dir": binder_dir,
        "unsupported": [
            base.binder_path(name) for name in UNSUPPORTED if Path(base.binder_path(name)).is_file()
        ],
    }
    if Path(base.binder_path("runtime.txt")).is_file():
        result["runtime"] = base.binder_path("runtime.txt")
    if runtime[0] not in {None, "python"}:  # `r-...`: not a Python the sandbox can give
        result["unsupported"].append(base.binder_path("runtime.txt"))
    if picked is None:
        return result
    result["post_build"] = list(picked.get_post_build_scripts())
    start = picked.get_start_script()
    if start is not None:  # repo2docker's is `${REPO_DIR}/<binder_dir>/start`
        result["start"] = start.replace("${REPO_DIR}/", "", 1)
    environment = getattr(picked, "environment_yaml_path", None)
    if environment:
        result["environment"] = environment
    if Path(base.binder_path("requirements.txt")).is_file():
        result["requirements"] = base.binder_path("requirements.txt")
    is_package = getattr(picked, "_is_python_package", None)
    result["python_package"] = bool(is_package()) if callable(is_package) else False
    return result


def main() -> None:
    # run as a script: its own folder (binderfed_sdk/sandbox) must not shadow other modules
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    json.dump(detect(sys.argv[1]), sys.stdout)


if __name__ == "__main__":
    main()
