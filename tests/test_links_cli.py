"""`binderfed link` prints the spec and link BinderHub would use for any link it takes."""

from __future__ import annotations

import io
import json

import pytest

from binderfed_sdk.cli._main import main

MB = "https://mybinder.org"
HS_ID = "142c59757ed54de1816777828c9716e7"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("target", "spec", "url"),
    [
        # binderhub static/js/App.test.jsx: a DOI link with a trailing '/'
        (
            f"{MB}/v2/zenodo/10.5281/zenodo.3242074/",
            "zenodo/10.5281/zenodo.3242074",
            f"{MB}/v2/zenodo/10.5281/zenodo.3242074",
        ),
        (f"{MB}/v2/gh/user/repo/main/", "gh/user/repo/main", f"{MB}/v2/gh/user/repo/main"),
        # binderhub repoproviders.py: '.git' dropped; lib/spec.js: labpath wins over urlpath
        (
            f"{MB}/v2/gh/u/r.git/HEAD/?urlpath=lab&labpath=nb/x.ipynb",
            "gh/u/r/HEAD",
            f"{MB}/v2/gh/u/r/HEAD?urlpath=doc/tree/nb/x.ipynb",
        ),
        # binderhub tests/test_legacy.py: the legacy form, its path the urlpath
        (
            f"{MB}/repo/binderhub-ci-repos/requirements/notebooks/index.ipynb",
            "gh/binderhub-ci-repos/requirements/master",
            f"{MB}/v2/gh/binderhub-ci-repos/requirements/master?urlpath=notebooks/index.ipynb",
        ),
        # binderhub tests/test_repoproviders.py test_hydroshare: the id, from an encoded URL
        (
            f"{MB}/v2/hydroshare/https%3A%2F%2Fwww.hydroshare.org%2Fresource%2F{HS_ID}%2F",
            f"hydroshare/{HS_ID}",
            f"{MB}/v2/hydroshare/{HS_ID}",
        ),
        # a spec string, read as the build handler reads it
        ("gh/u/r/HEAD/", "gh/u/r/HEAD", f"{MB}/v2/gh/u/r/HEAD"),
    ],
)
def test_link_prints_the_spec_binderhub_would_use(target: str, spec: str, url: str) -> None:
    code, out, err = run("link", target, "--json", "--hub", MB)
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["spec"], data["url"]) == (spec, url)
    assert data["badges"]["markdown"] == f"[![Binder]({MB}/badge_logo.svg)]({url})"
    code, out, _ = run("link", target, "--format", "url", "--hub", MB)
    assert (code, out) == (0, url + "\n")
    code, out, _ = run("link", target, "--hub", MB)
    assert out.startswith(f"spec      {spec}\nlaunch    {url}\n")


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        # binderhub static/js/App.test.jsx: "renders error for misconfigured repo"
        (f"{MB}/v2/gh/userrep/main/", "missing the ref"),
        # binderhub static/js/App.jsx: the /v2/ page routes gist specs of up to 3 segments
        (f"{MB}/v2/gist/u/abc/HEAD/extra", "launch page answers 'Not Found'"),
        # binderhub tests/test_repoproviders.py test_git_validate_url
        (f"{MB}/build/git/ftp%3A%2F%2Fprotocol.unsupported/main", "scheme 'ftp'"),
    ],
)
def test_link_rejects_what_binderhub_rejects(target: str, fragment: str) -> None:
    code, out, err = run("link", target)
    assert (code, out) == (2, "")
    assert err.startswith("binderfed: error:")
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
