"""Specs, repository URLs, launch links and badges: examples, errors and round-trip properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binderfed_sdk._errors import SpecError
from binderfed_sdk.spec._spec import (
    LaunchLink,
    Provider,
    Spec,
    parse,
    parse_launch_link,
    parse_repo_url,
    parse_spec,
    parse_target,
)

HEX = "0123456789abcdef" * 2
HYDRO = "8b2e1a3c9d0f4e5b6a7c8d9e0f1a2b3c"

# --- spec strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "provider", "repo", "ref"),
    [
        ("gh/jupyterlab/jupyterlab-demo/HEAD", Provider.GH, "jupyterlab/jupyterlab-demo", "HEAD"),
        ("gh/user/repo/feature/x", Provider.GH, "user/repo", "feature/x"),
        ("gh/user/my.repo_1/v1.0", Provider.GH, "user/my.repo_1", "v1.0"),
        ("gh/user/repo/a%25b", Provider.GH, "user/repo", "a%b"),
        ("gh/user/repo/caf%C3%A9", Provider.GH, "user/repo", "café"),
        ("gist/user/0123abcd", Provider.GIST, "user/0123abcd", None),
        ("gist/user/0123abcd/rev1", Provider.GIST, "user/0123abcd", "rev1"),
        (
            "git/https%3A%2F%2Fgitlab.com%2Fa%2Fb.git/main",
            Provider.GIT,
            "https://gitlab.com/a/b.git",
            "main",
        ),
        ("git/%2Fsrv%2Frepo/release/2.x", Provider.GIT, "/srv/repo", "release/2.x"),
        (
            "git/git%40example.org%3Ateam%2Frepo.git/HEAD",
            Provider.GIT,
            "git@example.org:team/repo.git",
            "HEAD",
        ),
        ("gl/group%2Fproject/main", Provider.GL, "group/project", "main"),
        ("gl/group%2Fsub%2Fproject/feature/y", Provider.GL, "group/sub/project", "feature/y"),
        ("zenodo/10.5281/zenodo.3242074", Provider.ZENODO, "10.5281/zenodo.3242074", None),
        (
            "figshare/10.6084/m9.figshare.9782777.v1",
            Provider.FIGSHARE,
            "10.6084/m9.figshare.9782777.v1",
            None,
        ),
        ("dataverse/10.7910/DVN/TJCLKP", Provider.DATAVERSE, "10.7910/DVN/TJCLKP", None),
        ("dataverse/10.1234/a%3Ab%28c%29", Provider.DATAVERSE, "10.1234/a:b(c)", None),
        (f"hydroshare/{HYDRO}", Provider.HYDROSHARE, HYDRO, None),
        (
            "ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fsample",
            Provider.CKAN,
            "https://demo.ckan.org/dataset/sample",
            None,
        ),
    ],
)
def test_parse_examples(text: str, provider: Provider, repo: str, ref: str | None) -> None:
    spec = Spec.parse(text)
    assert spec == Spec(provider, repo, ref)
    assert parse_spec(text) == spec
    assert parse(text) == spec
    assert spec.provider is provider
    assert Spec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (Spec(Provider.GH, "u/r", "feature/x+y"), "u/r/feature/x%2By"),
        (Spec(Provider.GH, "u/r", "a&b#c%d"), "u/r/a%26b%23c%25d"),
        (Spec(Provider.GIST, "u/abc"), "u/abc"),
        (Spec(Provider.GIST, "u/abc", "r2"), "u/abc/r2"),
        (
            Spec(Provider.GIT, "https://h.org/a(b)/c.git", "v/1"),
            "https%3A%2F%2Fh.org%2Fa%28b%29%2Fc.git/v/1",
        ),
        (Spec(Provider.GIT, "https://h.org/a%20b.git"), "https%3A%2F%2Fh.org%2Fa%2520b.git/HEAD"),
        (Spec(Provider.GL, "g/s/p", "f/x"), "g%2Fs%2Fp/f/x"),
        (Spec(Provider.ZENODO, "10.5281/zenodo.1"), "10.5281/zenodo.1"),
        (Spec(Provider.DATAVERSE, "10.1234/a;b?c#d"), "10.1234/a%3Bb%3Fc%23d"),
        (Spec(Provider.HYDROSHARE, HYDRO), HYDRO),
        (
            Spec(Provider.CKAN, "https://c.org/dataset/x?y=1"),
            "https%3A%2F%2Fc.org%2Fdataset%2Fx%3Fy%3D1",
        ),
    ],
)
def test_path_is_encoded_once(spec: Spec, path: str) -> None:
    assert spec.path == path
    assert str(spec) == f"{spec.provider}/{path}"
    assert spec.build_path == f"build/{spec.provider}/{path}"
    assert Spec.parse(str(spec)) == spec


def test_ref_defaults() -> None:
    assert Spec(Provider.GH, "u/r").ref == "HEAD"
    assert Spec(Provider.GIT, "/srv/r").ref == "HEAD"
    assert Spec(Provider.GL, "g/p").ref == "HEAD"
    assert Spec(Provider.GIST, "u/abc").ref is None
    assert Spec(Provider.ZENODO, "10.5281/zenodo.1").ref is None
    assert Spec(Provider.GH, "u/r") == Spec(Provider.GH, "u/r", "HEAD")


def test_plain_string_provider_becomes_enum() -> None:
    spec = Spec("gh", "u/r")
    assert spec.provider is Provider.GH
    assert spec == Spec(Provider.GH, "u/r")


def test_spec_is_frozen() -> None:
    spec = Spec(Provider.GH, "u/r")
    with pytest.raises(AttributeError):
        spec.ref = "main"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "url"),
    [
        (Spec(Provider.GH, "u/r", "dev"), "https://github.com/u/r"),
        (Spec(Provider.GIST, "u/abc", "r1"), "https://gist.github.com/u/abc"),
        (Spec(Provider.GIT, "https://h.org/a.git"), "https://h.org/a.git"),
        (Spec(Provider.GL, "g/s/p"), "https://gitlab.com/g/s/p"),
        (Spec(Provider.ZENODO, "10.5281/zenodo.1"), "https://doi.org/10.5281/zenodo.1"),
        (Spec(Provider.FIGSHARE, "10.6084/m9.x"), "https://doi.org/10.6084/m9.x"),
        (Spec(Provider.DATAVERSE, "10.1234/a:b"), "https://doi.org/10.1234/a%3Ab"),
        (Spec(Provider.HYDROSHARE, HYDRO), f"https://www.hydroshare.org/resource/{HYDRO}/"),
        (Spec(Provider.CKAN, "https://c.org/dataset/x"), "https://c.org/dataset/x"),
    ],
)
def test_repo_url(spec: Spec, url: str) -> None:
    assert spec.repo_url == url


# --- spec errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("nope/u/r/HEAD", "unknown provider 'nope'; known providers: gh, gist, git, gl"),
        ("gh", "has no '/'"),
        ("gh/user//HEAD", "empty part"),
        ("gh//repo/HEAD", "empty part"),
        ("gh/user/repo//x", "empty path segment"),
        ("gh/user/repo", "missing the ref"),
        ("gh/user/../HEAD", "'..' path segment"),
        ("gh/user/repo/a/../b", "'..' path segment"),
        ("gh/user/repo/./b", "'.' path segment"),
        ("gh/user/repo/%2E%2E", "'..' path segment"),
        ("gh/us_er/repo/HEAD", "GitHub user name 'us_er' may only contain"),
        ("gh/user/re%24po/HEAD", "GitHub repository name 're$po'"),
        ("gh/user/repo/a b", "whitespace U+0020"),
        ("gh/user/repo/a%20b", "whitespace U+0020"),
        ("gh/user/repo/a%09b", "whitespace U+0009"),
        ("gh/user/repo/a%00b", "control character U+0000"),
        ("gh/user/repo/a%7Fb", "control character U+007F"),
        ("gh/user/repo/a%E2%80%8Bb", "control character U+200B"),
        ("gh/user/repo/a%C2%A0b", "whitespace U+00A0"),
        ("gh/user/repo/a?b", "raw '?'"),
        ("gh/user/repo/a#b", "raw '#'"),
        ("gh/user/repo/100%", "malformed percent-escape"),
        ("gh/user/repo/%zz", "malformed percent-escape"),
        ("gh/user/repo/%FF", "does not decode to UTF-8"),
        ("gh/user/repo/a~b", "'~'"),
        ("gh/user/repo/a^b", "'^'"),
        ("gh/user/repo/a%3Ab", "':'"),
        ("gh/user/repo/a%3Fb", "'?'"),
        ("gh/user/repo/a*b", "'*'"),
        ("gh/user/repo/a[b", "'['"),
        ("gh/user/repo/a%5Cb", "'\\\\'"),
        ("gh/user/repo/feature%2F", "ends with '/'"),
        ("gh/user/repo/x.lock", "'.lock'"),
        ("gh/user/repo/x.lock/y", "'.lock'"),
        ("gh/user/repo/a..b", "contains '..'"),
        ("gh/user/repo/a@{1}", "'@{'"),
        ("gh/user/repo/@", "'@{' or is '@'"),
        ("gh/user/repo/.hidden", "starting with '.'"),
        ("gh/user/repo/v1.", "ends with '.'"),
        ("gist/user", "must be '<user>/<gist-id>'"),
        ("gist/user/ab-cd", "gist id 'ab-cd'"),
        ("git/https://github.com/a/b.git/main", "not percent-encoded: it contains a raw ':'"),
        ("git/https%3A%2F%2Fgithub.com%2Fa%2Fb.git", "missing the ref"),
        ("git/github.com%2Fa%2Fb/main", "is not a clone URL"),
        ("git/https%253A%252F%252Fgithub.com%252Fa/main", "looks percent-encoded twice"),
        ("git/ftp%3A%2F%2Fh.org%2Fa/main", "scheme 'ftp'"),
        ("git/https%3A%2F%2F%2Fa/main", "has no host"),
        ("git/https%3A%2F%2Fh.org%2Fa%2F..%2Fb/main", "'..' path segment"),
        ("git/https%3A%2F%2Fh.org%2Fa%20b/main", "whitespace"),
        ("gl/group/project/main", "GitLab project 'group' must be '<namespace>/<project>'"),
        ("gl/group%2Fproject", "missing the ref"),
        ("gl/group%2F%2Fproject/main", "empty part"),
        ("gl/gr%24oup%2Fproject/main", "GitLab project path part 'gr$oup'"),
        ("zenodo/10./x", "DOI '10./x' is malformed"),
        ("zenodo/11.5281/zenodo.1", "is malformed"),
        ("zenodo/10.5281/", "is malformed"),
        ("zenodo/10.5281", "is malformed"),
        ("zenodo/10.5281/a%20b", "whitespace"),
        ("figshare/10.6084/../x", "'..' path segment"),
        ("hydroshare/abc", "has no HydroShare resource id (32 hex digits)"),
        (f"hydroshare/{HYDRO[:-1]}g", "has no HydroShare resource id"),
        (f"hydroshare/{HYDRO.upper()}", "BinderHub only knows lower-case ids"),
        ("ckan/https://c.org/dataset/x", "not percent-encoded"),
        ("ckan/ftp%3A%2F%2Fc.org%2Fd", "must be an http(s) URL"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec.parse(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("provider", "repo", "ref", "fragment"),
    [
        (Provider.ZENODO, "10.5281/zenodo.1", "HEAD", "zenodo specs have no ref"),
        (Provider.HYDROSHARE, HYDRO, "x", "hydroshare specs have no ref"),
        (Provider.CKAN, "https://c.org/d", "x", "ckan specs have no ref"),
        (Provider.GH, "u/r", "", "is empty"),
        (Provider.GH, "", None, "is empty"),
        (Provider.GH, "u/r/x", None, "must be '<user>/<repo>'"),
        (Provider.GH, "u/r", "a\nb", "whitespace U+000A"),
        (Provider.GH, "u/r", "a\ud800", "unpaired surrogate"),
        (Provider.GIT, "relative/path", None, "is not a clone URL"),
        (Provider.GIT, "file://", None, "has no path"),
        (Provider.GL, "project", None, "must be '<namespace>/<project>'"),
        (Provider.GIST, "u/abc", "r/2", "BinderHub reads a gist ref up to the next '/'"),
        (Provider.GH, "u/r.git.git", None, "ends in '.git' even without its '.git'"),
        (Provider.GH, "u/.git", None, "empty part"),
        (Provider.HYDROSHARE, HYDRO.upper(), None, "must be 32 lower-case hex digits"),
        (Provider.ZENODO, "10.5281/", None, "is malformed"),
    ],
)
def test_constructor_errors(provider: Provider, repo: str, ref: str | None, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec(provider, repo, ref)
    assert fragment in str(info.value)


def test_unknown_provider_in_constructor() -> None:
    with pytest.raises(SpecError, match="unknown provider 'svn'"):
        Spec("svn", "x")


def test_spec_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        Spec.parse("nope/x")


# --- repository URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "spec", "urlpath"),
    [
        ("https://github.com/u/r", Spec(Provider.GH, "u/r"), None),
        ("https://github.com/u/r/", Spec(Provider.GH, "u/r"), None),
        ("http://www.github.com/u/r.git", Spec(Provider.GH, "u/r"), None),
        ("https://github.com/u/r?tab=readme#top", Spec(Provider.GH, "u/r"), None),
        ("https://github.com/u/r/tree/main", Spec(Provider.GH, "u/r", "main"), None),
        ("https://github.com/u/r/tree/feature/x", Spec(Provider.GH, "u/r", "feature/x"), None),
        (
            "https://github.com/u/r/blob/main/docs/a%20b.ipynb",
            Spec(Provider.GH, "u/r", "main"),
            "doc/tree/docs/a b.ipynb",
        ),
        ("https://github.com/u/r/commit/0abc", Spec(Provider.GH, "u/r", "0abc"), None),
        ("git@github.com:u/r.git", Spec(Provider.GH, "u/r"), None),
        ("https://gitlab.com/group/sub/project", Spec(Provider.GL, "group/sub/project"), None),
        ("https://gitlab.com/group/project.git", Spec(Provider.GL, "group/project"), None),
        (
            "https://gitlab.com/group/sub/project/-/tree/feature/y",
            Spec(Provider.GL, "group/sub/project", "feature/y"),
            None,
        ),
        (
            "https://gitlab.com/g/p/-/blob/v1/nb/x.ipynb",
            Spec(Provider.GL, "g/p", "v1"),
            "doc/tree/nb/x.ipynb",
        ),
        ("https://gist.github.com/u/0123abcd", Spec(Provider.GIST, "u/0123abcd"), None),
        (
            "https://gist.github.com/u/0123abcd/rev9",
            Spec(Provider.GIST, "u/0123abcd", "rev9"),
            None,
        ),
        (
            "https://git.example.org/a/b.git",
            Spec(Provider.GIT, "https://git.example.org/a/b.git"),
            None,
        ),
        ("http://h.org:8080/repo", Spec(Provider.GIT, "http://h.org:8080/repo"), None),
        (
            "https://gitlab.example.org/g/p",
            Spec(Provider.GIT, "https://gitlab.example.org/g/p"),
            None,
        ),
        ("file:///srv/repo", Spec(Provider.GIT, "file:///srv/repo"), None),
        ("/srv/repo", Spec(Provider.GIT, "/srv/repo"), None),
        ("10.5281/zenodo.123", Spec(Provider.ZENODO, "10.5281/zenodo.123"), None),
        ("doi:10.5281/zenodo.123", Spec(Provider.ZENODO, "10.5281/zenodo.123"), None),
        ("DOI:10.6084/m9.figshare.1", Spec(Provider.FIGSHARE, "10.6084/m9.figshare.1"), None),
        (
            "https://doi.org/10.7910/DVN/TJCLKP",
            Spec(Provider.DATAVERSE, "10.7910/DVN/TJCLKP"),
            None,
        ),
        ("https://dx.doi.org/10.1234/a%3Ab", Spec(Provider.DATAVERSE, "10.1234/a:b"), None),
        (
            "https://zenodo.org/record/3242074",
            Spec(Provider.ZENODO, "10.5281/zenodo.3242074"),
            None,
        ),
        (
            "https://zenodo.org/records/3242074/",
            Spec(Provider.ZENODO, "10.5281/zenodo.3242074"),
            None,
        ),
        (f"https://www.hydroshare.org/resource/{HYDRO}/", Spec(Provider.HYDROSHARE, HYDRO), None),
        (f"https://hydroshare.org/resource/{HYDRO}", Spec(Provider.HYDROSHARE, HYDRO), None),
    ],
)
def test_repo_urls(url: str, spec: Spec, urlpath: str | None) -> None:
    assert parse_repo_url(url) == (spec, urlpath)
    assert Spec.from_url(url) == spec
    assert parse(url) == spec


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://github.com/u", "does not name a repository"),
        ("https://github.com/u/r/issues/1", "unsupported path 'issues/1'"),
        ("https://github.com/u/r/tree", "unsupported path 'tree'"),
        ("https://github.com/u/r/blob/main", "unsupported path 'blob/main'"),
        ("https://github.com/u/r/tree/a..b", "contains '..'"),
        ("https://github.com/u_x/r", "GitHub user name 'u_x'"),
        ("https://gitlab.com/g/p/-", "ends at '/-/'"),
        ("https://gitlab.com/g/p/-/issues", "unsupported path 'issues'"),
        ("https://gitlab.com/project", "must be '<namespace>/<project>'"),
        ("https://gist.github.com/0123abcd", "must be https://gist.github.com/<user>/<id>"),
        ("https://zenodo.org/communities/x", "must be https://zenodo.org/records/<number>"),
        ("https://www.hydroshare.org/resource/abc/", "32 hex digits"),
        ("https://www.hydroshare.org/search", "must be https://www.hydroshare.org/resource/<id>/"),
        ("doi:10.x/y", "is malformed"),
        ("10.5281/", "is malformed"),
        ("https://doi.org/", "is malformed"),
        ("relative/path", "is not a repository URL, DOI or absolute path"),
        ("", "is empty"),
        (" https://github.com/u/r", "whitespace U+0020 at position 0"),
        ("https://github.com/u/r\n", "whitespace U+000A"),
        ("https://h.org/a/../b", "'..' path segment"),
        ("ftp://h.org/a", "scheme 'ftp'"),
        ("https://[::1/x", "is not a valid URL"),
        ("https://github.com/u/r/tree/%FF", "does not decode to UTF-8"),
    ],
)
def test_repo_url_errors(url: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_repo_url(url)
    assert fragment in str(info.value)


# --- launch links and badges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "link"),
    [
        (
            "https://mybinder.org/v2/gh/u/r/main?urlpath=lab/tree/x.ipynb",
            LaunchLink(
                "https://mybinder.org", Spec(Provider.GH, "u/r", "main"), "lab/tree/x.ipynb"
            ),
        ),
        (
            "https://mybinder.org/v2/gh/u/r/feature/x?urlpath=lab%2Ftree%2Fa+b.ipynb",
            LaunchLink(
                "https://mybinder.org", Spec(Provider.GH, "u/r", "feature/x"), "lab/tree/a b.ipynb"
            ),
        ),
        (
            "https://example.org/binder/v2/git/https%3A%2F%2Fh.org%2Fa.git/HEAD",
            LaunchLink("https://example.org/binder", Spec(Provider.GIT, "https://h.org/a.git")),
        ),
        (
            "http://127.0.0.1:8585/build/gl/g%2Fp/main",
            LaunchLink("http://127.0.0.1:8585", Spec(Provider.GL, "g/p", "main")),
        ),
        (
            "HTTPS://mybinder.org/v2/zenodo/10.5281/zenodo.3242074?utm=x#frag",
            LaunchLink("https://mybinder.org", Spec(Provider.ZENODO, "10.5281/zenodo.3242074")),
        ),
        (
            "https://mybinder.org/repo/u/r",
            LaunchLink("https://mybinder.org", Spec(Provider.GH, "u/r", "master")),
        ),
        (
            "https://mybinder.org/repo/u/r/",
            LaunchLink("https://mybinder.org", Spec(Provider.GH, "u/r", "master")),
        ),
        (
            "https://mybinder.org/repo/u/r/notebooks/a%20b.ipynb",
            LaunchLink(
                "https://mybinder.org", Spec(Provider.GH, "u/r", "master"), "notebooks/a b.ipynb"
            ),
        ),
        (
            # BinderHub's legacy redirect drops the query (main.py, LegacyRedirectHandler)
            "https://hub.org/base/repo/u/r?urlpath=tree",
            LaunchLink("https://hub.org/base", Spec(Provider.GH, "u/r", "master")),
        ),
        (
            "https://mybinder.org/v2/gh/u/r/HEAD?labpath=nb/x.ipynb",
            LaunchLink("https://mybinder.org", Spec(Provider.GH, "u/r"), "doc/tree/nb/x.ipynb"),
        ),
        (
            "https://mybinder.org/v2/gh/u/r/HEAD?filepath=nb%2Fx.ipynb",
            LaunchLink("https://mybinder.org", Spec(Provider.GH, "u/r"), "tree/nb/x.ipynb"),
        ),
        (
            "https://mybinder.org/v2/gh/u/r/HEAD?urlpath=",
            LaunchLink("https://mybinder.org", Spec(Provider.GH, "u/r")),
        ),
    ],
)
def test_launch_links(url: str, link: LaunchLink) -> None:
    assert parse_launch_link(url) == link
    assert parse_launch_link(link.url) == link
    assert parse(url) == link.spec


def test_launch_url_formats() -> None:
    spec = Spec(Provider.GH, "u/r", "feature/x")
    assert spec.launch_url() == "https://mybinder.org/v2/gh/u/r/feature/x"
    assert spec.launch_url("https://mybinder.org/") == "https://mybinder.org/v2/gh/u/r/feature/x"
    assert spec.launch_url("https://h.org/binder/", "lab/tree/a b?c&d#e%f.ipynb") == (
        "https://h.org/binder/v2/gh/u/r/feature/x?urlpath=lab/tree/a%20b%3Fc%26d%23e%25f.ipynb"
    )
    assert LaunchLink("https://h.org/", spec).hub == "https://h.org"
    assert LaunchLink("HTTP://h.org/x/", spec).hub == "http://h.org/x"


def test_badges() -> None:
    spec = Spec(Provider.GH, "u/r")
    link = "https://mybinder.org/v2/gh/u/r/HEAD?urlpath=a%26b"
    assert spec.badge(urlpath="a&b") == (
        f"[![Binder](https://mybinder.org/badge_logo.svg)]({link})"
    )
    assert spec.badge("rst", urlpath="a&b") == (
        f".. image:: https://mybinder.org/badge_logo.svg\n   :target: {link}"
    )
    assert spec.badge("html", hub="https://h.org", badge_url='https://h.org/b.svg?"x"&y') == (
        '<a href="https://h.org/v2/gh/u/r/HEAD">'
        '<img src="https://h.org/b.svg?&quot;x&quot;&amp;y" alt="Launch Binder"></a>'
    )
    link_object = LaunchLink("https://mybinder.org", spec, "a&b")
    assert link_object.badge("markdown") == spec.badge("markdown", urlpath="a&b")
    with pytest.raises(SpecError, match="unknown badge format 'svg'; known: markdown, rst, html"):
        spec.badge("svg")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://mybinder.org/gh/u/r/HEAD", "not a Binder link: its path has no /v2/"),
        ("https://github.com/u/r", "not a Binder link"),
        ("ftp://mybinder.org/v2/gh/u/r/HEAD", "the hub must be http or https, not 'ftp'"),
        ("mybinder.org/v2/gh/u/r/HEAD", "is not an absolute URL"),
        ("/v2/gh/u/r/HEAD", "is not an absolute URL"),
        ("https://mybinder.org/v2/nope/u/r", "unknown provider 'nope'"),
        ("https://mybinder.org/v2/gh/u/r", "missing the ref"),
        ("https://mybinder.org/v2/", "has no '/'"),
        ("https://mybinder.org/repo/u", "a legacy link must be /repo/<user>/<repo>"),
        ("https://mybinder.org/v2/gh/u/r/HEAD?urlpath=a%0Ab", "control character U+000A"),
        ("https://mybinder.org/v2/gh/u/r/HEAD?urlpath=a b", "whitespace"),
    ],
)
def test_launch_link_errors(url: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_launch_link(url)
    assert fragment in str(info.value)


def test_link_errors_leave_out_the_query() -> None:
    with pytest.raises(SpecError) as info:
        parse_launch_link("https://mybinder.org/nope?token=secret")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("hub", "urlpath", "fragment"),
    [
        ("ftp://h.org", None, "must be an http(s) URL"),
        ("h.org", None, "must be an http(s) URL"),
        ("https://h.org?x=1", None, "must not have a query or fragment"),
        ("https://h.org/v2", None, "'v2' path segment"),
        ("https://h.org/a/build/", None, "'build' path segment"),
        ("https://h.org/a//b", None, "empty, '.' or '..' segment"),
        ("https://h.org/a b", None, "whitespace"),
        ("https://h.org", "", "urlpath is empty"),
        ("https://h.org", "a\x00b", "control character U+0000"),
    ],
)
def test_launch_link_constructor_errors(hub: str, urlpath: str | None, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        LaunchLink(hub, Spec(Provider.GH, "u/r"), urlpath)
    assert fragment in str(info.value)


# --- links exactly as BinderHub reads them --------------------------------------------------
#
# Link forms from BinderHub's own handlers and tests (jupyterhub/binderhub), each with the spec
# BinderHub would use and the urlpath its launch page opens. Sources, all under binderhub/:
#   builder.py          BuildHandler: spec.rstrip("/") before anything reads it
#   repoproviders.py    how each provider splits and checks its spec
#   main.py             LegacyRedirectHandler: /repo/<user>/<repo>[/<path>]
#   app.py              routes: /build/([^/]+)/(.+), /v2/(<provider>)/(.+), /repo/...
#   static/js/App.jsx   the /v2/ page routes on each provider's spec.validateRegex
#   static/js/App.test.jsx, tests/test_main.py, tests/test_build.py, tests/test_legacy.py,
#   tests/test_repoproviders.py   the forms below, where marked
# and js/packages/binderhub-client/lib/spec.js (LaunchSpec.fromSearchParams) for the query.

MB = "https://mybinder.org"
CI_REPO = "https%3A%2F%2Fgithub.com%2Fbinderhub-ci-repos%2Fcached-minimal-dockerfile"
CI_SHA = "596b52f10efb0c9befc0c4ae850cc5175297d71c"
Z2JH = "https%3A%2F%2Fgithub.com%2Fjupyterhub%2Fzero-to-jupyterhub-k8s"
GIST = "mariusvniekerk/8a658f7f63b13768d1e75fa2464f5092"
HS_ID = "142c59757ed54de1816777828c9716e7"
HS_DOI_ID = "b8f6eae9d89241cf8b5904033460af61"
TURTLES = (
    "https%3A%2F%2Fdata.depositar.io%2Fdataset%2Fbinder-example-sea-turtle-sightings-in-taiwan"
)
TURTLE_ACTIVITY = "93df7fd0-0edc-4ebf-bac7-fbf5f78de90b"

BINDERHUB_LINKS = [
    # static/js/App.test.jsx: "renders loading page" (with and without trailing slash)
    (f"{MB}/v2/gh/user/repo/main", "gh/user/repo/main", None),
    (f"{MB}/v2/gh/user/repo/main/", "gh/user/repo/main", None),
    (f"{MB}/v2/zenodo/10.5281/zenodo.3242074/", "zenodo/10.5281/zenodo.3242074", None),
    # builder.py: every trailing '/' goes, on /build/ as on /v2/
    (f"{MB}/build/gh/user/repo/HEAD//", "gh/user/repo/HEAD", None),
    (f"{MB}/build/zenodo/10.5281/zenodo.3242074//", "zenodo/10.5281/zenodo.3242074", None),
    (f"{MB}/v2/dataverse/10.7910/DVN/TJCLKP/", "dataverse/10.7910/DVN/TJCLKP", None),
    (f"{MB}/v2/gl/g%2Fp/main/", "gl/g%2Fp/main", None),
    (f"{MB}/v2/gist/{GIST}/", f"gist/{GIST}", None),
    (f"{MB}/v2/hydroshare/{HS_ID}/", f"hydroshare/{HS_ID}", None),
    # tests/test_main.py: test_build_token_origin
    (f"{MB}/v2/git/{CI_REPO}/HEAD", f"git/{CI_REPO}/HEAD", None),
    # tests/test_build.py: test_build slugs, on /build/
    (f"{MB}/build/git/{CI_REPO}/HEAD", f"git/{CI_REPO}/HEAD", None),
    (f"{MB}/build/git/{CI_REPO}/{CI_SHA}", f"git/{CI_REPO}/{CI_SHA}", None),
    (
        f"{MB}/build/gh/binderhub-ci-repos/cached-minimal-dockerfile/HEAD",
        "gh/binderhub-ci-repos/cached-minimal-dockerfile/HEAD",
        None,
    ),
    (
        f"{MB}/build/gh/binderhub-ci-repos/cached-minimal-dockerfile/master",
        "gh/binderhub-ci-repos/cached-minimal-dockerfile/master",
        None,
    ),
    (
        f"{MB}/build/gl/binderhub-ci-repos%2Fcached-minimal-dockerfile/{CI_SHA}",
        f"gl/binderhub-ci-repos%2Fcached-minimal-dockerfile/{CI_SHA}",
        None,
    ),
    (
        f"{MB}/build/gh/binderhub-ci-repos/minimal-dockerfile/failed",
        "gh/binderhub-ci-repos/minimal-dockerfile/failed",
        None,
    ),
    # tests/test_legacy.py: the redirect to /v2/gh/<user>/<repo>/master[?urlpath=/<path>];
    # the launch page drops the leading '/' (lib/spec.js)
    (
        f"{MB}/repo/binderhub-ci-repos/requirements",
        "gh/binderhub-ci-repos/requirements/master",
        None,
    ),
    (
        f"{MB}/repo/binderhub-ci-repos/requirements/",
        "gh/binderhub-ci-repos/requirements/master",
        None,
    ),
    (
        f"{MB}/repo/binderhub-ci-repos/requirements/notebooks/index.ipynb",
        "gh/binderhub-ci-repos/requirements/master",
        "notebooks/index.ipynb",
    ),
    # main.py LegacyRedirectHandler: the query is not carried over
    (f"{MB}/repo/u/r/x?urlpath=y", "gh/u/r/master", "x"),
    # tests/test_repoproviders.py: test_spec_processing, TestSpecErrorHandling.test_long_spec
    (f"{MB}/v2/gh/user/repo/hotfix/squash-bug", "gh/user/repo/hotfix/squash-bug", None),
    (f"{MB}/v2/gh/user/repo/feature/save_world", "gh/user/repo/feature/save_world", None),
    (
        f"{MB}/v2/gh/a/long/specification/with/many/slashes/to/split/on",
        "gh/a/long/specification/with/many/slashes/to/split/on",
        None,
    ),
    # repoproviders.py GitHubRepoProvider (strip_suffix; tests/test_repoproviders.py
    # test_string_strip): one '.git' goes from the repository name
    (f"{MB}/v2/gh/u/r.git/HEAD", "gh/u/r/HEAD", None),
    (f"{MB}/v2/gh/u/r.git/HEAD/", "gh/u/r/HEAD", None),
    # tests/test_repoproviders.py: test_zenodo, test_figshare, test_dataverse
    (f"{MB}/v2/zenodo/10.5281/zenodo.3242073", "zenodo/10.5281/zenodo.3242073", None),
    (
        f"{MB}/v2/figshare/10.6084/m9.figshare.9782777.v1",
        "figshare/10.6084/m9.figshare.9782777.v1",
        None,
    ),
    (f"{MB}/v2/figshare/10.6084/m9.figshare.9782777", "figshare/10.6084/m9.figshare.9782777", None),
    (f"{MB}/v2/dataverse/10.7910/DVN/TJCLKP", "dataverse/10.7910/DVN/TJCLKP", None),
    # repoproviders.py DOI providers' validateRegex 10\.\d+\/(.)+: any number of prefix digits
    (f"{MB}/v2/zenodo/10.12/x", "zenodo/10.12/x", None),
    # tests/test_repoproviders.py: test_hydroshare (a resource URL, percent-encoded in a link
    # as the home page does, urlEncode: true) and test_hydroshare_doi; the hub takes the id
    (
        f"{MB}/v2/hydroshare/https%3A%2F%2Fwww.hydroshare.org%2Fresource%2F{HS_ID}%2F",
        f"hydroshare/{HS_ID}",
        None,
    ),
    (f"{MB}/v2/hydroshare/10.4211%2Fhs.{HS_DOI_ID}", f"hydroshare/{HS_DOI_ID}", None),
    (f"{MB}/build/hydroshare/10.4211/hs.{HS_DOI_ID}", f"hydroshare/{HS_DOI_ID}", None),
    # tests/test_repoproviders.py: test_ckan (dataset URL, with activity_id or /history/)
    (
        f"{MB}/v2/ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fmy-sample-dataset-001",
        "ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fmy-sample-dataset-001",
        None,
    ),
    (
        f"{MB}/v2/ckan/{TURTLES}%2F%3Factivity_id%3D{TURTLE_ACTIVITY}",
        f"ckan/{TURTLES}%2F%3Factivity_id%3D{TURTLE_ACTIVITY}",
        None,
    ),
    (
        f"{MB}/v2/ckan/{TURTLES}%2Fhistory%2F{TURTLE_ACTIVITY}",
        f"ckan/{TURTLES}%2Fhistory%2F{TURTLE_ACTIVITY}",
        None,
    ),
    # tests/test_repoproviders.py: test_git_ref, test_git_validate_url (ssh form accepted)
    (
        f"{MB}/v2/git/{Z2JH}/f7f3ff6d1bf708bdc12e5f10e18b2a90a4795603",
        f"git/{Z2JH}/f7f3ff6d1bf708bdc12e5f10e18b2a90a4795603",
        None,
    ),
    (f"{MB}/v2/git/{Z2JH}/0.8.0", f"git/{Z2JH}/0.8.0", None),
    (
        f"{MB}/v2/git/git%40github.com%3Ajupyterhub%2Fbinderhub/main",
        "git/git%40github.com%3Ajupyterhub%2Fbinderhub/main",
        None,
    ),
    # tests/test_repoproviders.py: test_gitlab_ref
    (f"{MB}/v2/gl/gitlab-org%2Fgitlab-foss/v10.0.6", "gl/gitlab-org%2Fgitlab-foss/v10.0.6", None),
    # tests/test_repoproviders.py: test_gist_ref (no ref, HEAD, master, a revision) and
    # test_gist_secret
    (f"{MB}/v2/gist/{GIST}", f"gist/{GIST}", None),
    (f"{MB}/v2/gist/{GIST}/HEAD", f"gist/{GIST}/HEAD", None),
    (f"{MB}/v2/gist/{GIST}/master", f"gist/{GIST}/master", None),
    (
        f"{MB}/v2/gist/{GIST}/7daa381aae8409bfe28193e2ed8f767c26371237",
        f"gist/{GIST}/7daa381aae8409bfe28193e2ed8f767c26371237",
        None,
    ),
    (
        f"{MB}/v2/gist/mariusvniekerk/bd01411ea4bf4eb8135893ef237398ba",
        "gist/mariusvniekerk/bd01411ea4bf4eb8135893ef237398ba",
        None,
    ),
    # repoproviders.py GistRepoProvider: /build/ reads the ref up to the next '/'
    (f"{MB}/build/gist/{GIST}/HEAD/extra", f"gist/{GIST}/HEAD", None),
    # lib/spec.js fromSearchParams: labpath, then filepath, then urlpath; first value counts;
    # one trailing '/' off a file path; leading '/' off the urlpath; lenient decoding
    (f"{MB}/v2/gh/u/r/HEAD/?urlpath=lab", "gh/u/r/HEAD", "lab"),
    (f"{MB}/v2/gh/u/r/HEAD?labpath=nb/x.ipynb&urlpath=lab", "gh/u/r/HEAD", "doc/tree/nb/x.ipynb"),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=lab&filepath=nb/", "gh/u/r/HEAD", "tree/nb"),
    (f"{MB}/v2/gh/u/r/HEAD?filepath=a&labpath=b", "gh/u/r/HEAD", "doc/tree/b"),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=a&urlpath=b", "gh/u/r/HEAD", "a"),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=%2Flab%2Ftree%2Fx.ipynb", "gh/u/r/HEAD", "lab/tree/x.ipynb"),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=/", "gh/u/r/HEAD", None),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=100%", "gh/u/r/HEAD", "100%"),
    (f"{MB}/v2/gh/u/r/HEAD?urlpath=%FF", "gh/u/r/HEAD", "\ufffd"),
]


@pytest.mark.parametrize(("url", "spec", "urlpath"), BINDERHUB_LINKS)
def test_links_as_binderhub_reads_them(url: str, spec: str, urlpath: str | None) -> None:
    link = parse_launch_link(url)
    assert str(link.spec) == spec
    assert link.urlpath == urlpath
    assert parse(url) == link.spec
    assert parse_target(url) == (link.spec, urlpath)
    # the normalised link reads back the same, with no trailing '/' for the hub to strip
    assert parse_launch_link(link.url) == link
    assert not link.url.split("?")[0].endswith("/")
    # as a spec string, too
    assert Spec.parse(spec) == link.spec


BINDERHUB_REJECTS = [
    # static/js/App.test.jsx: "renders error for misconfigured repo"
    (f"{MB}/v2/gh/userrep/main/", "missing the ref"),
    # tests/test_repoproviders.py TestSpecErrorHandling (tokenize_spec); the hint is BinderHub's
    (f"{MB}/build/gh/nothing_to_split", "must be '<user>/<repo>'"),
    (f"{MB}/build/gh/short/HEAD", "missing the ref"),
    (f"{MB}/build/gh/short/suggestion", "e.g. 'gh/short/suggestion/HEAD'"),
    # builder.py strips first: a ref made only of '/' is no ref
    (f"{MB}/v2/gh/u/r//", "missing the ref"),
    # tests/test_repoproviders.py test_git_validate_url
    (f"{MB}/build/git/not%20a%20repo/main", "whitespace"),
    (f"{MB}/build/git/ftp%3A%2F%2Fprotocol.unsupported/main", "scheme 'ftp'"),
    # repoproviders.py GitRepoProvider / GitLabRepoProvider: the ref must not be empty
    (f"{MB}/v2/git/{CI_REPO}/", "missing the ref"),
    (f"{MB}/v2/gl/g%2Fp/", "missing the ref"),
    # repoproviders.py GistRepoProvider: user and gist id both needed
    (f"{MB}/build/gist/mariusvniekerk/", "must be '<user>/<gist-id>'"),
    # repoproviders.py HydroshareProvider: no 32 lower-case hex digits, no resource
    (f"{MB}/v2/hydroshare/abc", "has no HydroShare resource id"),
    (f"{MB}/v2/hydroshare/{HS_ID.upper()}", "lower-case"),
    # the DOI providers' validateRegex 10\.\d+\/(.)+ (the /v2/ page's route)
    (f"{MB}/v2/zenodo/10.5281/", "is malformed"),
    (f"{MB}/v2/zenodo/zenodo.3242074", "is malformed"),
    # static/js/App.jsx: the /v2/ page routes only a spec of the provider's shape
    (f"{MB}/v2/gist/{GIST}/HEAD/extra", "launch page answers 'Not Found'"),
    (f"{MB}/v2/hydroshare/10.4211/hs.{HS_DOI_ID}", "launch page answers 'Not Found'"),
    (f"{MB}/v2/hydroshare/{HS_ID}//", "launch page answers 'Not Found'"),
    # app.py: /v2/ and /build/ exist for the configured providers only
    (f"{MB}/v2/svn/u/r/HEAD", "unknown provider 'svn'"),
    (f"{MB}/build/gh/", "gh spec is empty"),
    # app.py: /repo/([^/]+)/([^/]+)(/.*)?
    (f"{MB}/repo/u", "a legacy link must be /repo/<user>/<repo>"),
    (f"{MB}/repo/u//x", "a legacy link must be /repo/<user>/<repo>"),
]


# parse() reads these as clone URLs: their paths do not have a Binder link's shape
NOT_LINK_SHAPED = {f"{MB}/v2/svn/u/r/HEAD", f"{MB}/repo/u"}


@pytest.mark.parametrize(("url", "fragment"), BINDERHUB_REJECTS)
def test_links_binderhub_rejects(url: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_launch_link(url)
    assert fragment in str(info.value)
    if url not in NOT_LINK_SHAPED:
        with pytest.raises(SpecError):
            parse(url)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        # spec strings are read as the build handler reads what follows /build/
        ("gh/u/r/HEAD/", Spec(Provider.GH, "u/r")),
        ("gh/u/r.git/main", Spec(Provider.GH, "u/r", "main")),
        ("zenodo/10.5281/zenodo.3242074/", Spec(Provider.ZENODO, "10.5281/zenodo.3242074")),
        (f"gist/{GIST}/", Spec(Provider.GIST, GIST)),
        (f"gist/{GIST}//x", Spec(Provider.GIST, GIST)),
        (f"hydroshare/x{HS_ID}y/", Spec(Provider.HYDROSHARE, HS_ID)),
    ],
)
def test_spec_strings_as_binderhub_reads_them(text: str, spec: Spec) -> None:
    assert Spec.parse(text) == spec
    assert parse(text) == spec


def test_repository_spellings_binderhub_reads_alike() -> None:
    # one '.git' goes, as BinderHub drops it; a DOI never ends in '/'; a HydroShare DOI names
    # the resource (tests/test_repoproviders.py test_hydroshare_doi)
    assert Spec(Provider.GH, "u/r.git") == Spec(Provider.GH, "u/r")
    assert Spec(Provider.ZENODO, "10.5281/zenodo.1/") == Spec(Provider.ZENODO, "10.5281/zenodo.1")
    assert parse_repo_url(f"10.4211/hs.{HS_DOI_ID}") == (Spec(Provider.HYDROSHARE, HS_DOI_ID), None)
    assert parse(f"https://doi.org/10.4211/hs.{HS_DOI_ID}") == Spec(Provider.HYDROSHARE, HS_DOI_ID)
    assert LaunchLink(MB, Spec(Provider.GH, "u/r"), "/lab").urlpath == "lab"
    assert LaunchLink(MB, Spec(Provider.GH, "u/r"), "///").urlpath is None


# --- parse(): the convenience entry point ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("gh/u/r/HEAD", Spec(Provider.GH, "u/r")),
        ("https://github.com/u/r/tree/dev", Spec(Provider.GH, "u/r", "dev")),
        ("https://mybinder.org/v2/gh/u/r/dev", Spec(Provider.GH, "u/r", "dev")),
        ("https://hub.org/x/build/gist/u/abc", Spec(Provider.GIST, "u/abc")),
        ("https://mybinder.org/repo/u/r", Spec(Provider.GH, "u/r", "master")),
        ("10.5281/zenodo.1", Spec(Provider.ZENODO, "10.5281/zenodo.1")),
        # clone URLs that merely contain a marker segment stay clone URLs
        (
            "https://git.h.org/build/tools.git",
            Spec(Provider.GIT, "https://git.h.org/build/tools.git"),
        ),
        ("https://git.h.org/repo/u/r.git", Spec(Provider.GIT, "https://git.h.org/repo/u/r.git")),
        ("https://git.h.org/v2/tools", Spec(Provider.GIT, "https://git.h.org/v2/tools")),
        # repository hosts are never read as Binder links
        ("https://github.com/u/build", Spec(Provider.GH, "u/build")),
        ("/srv/repo", Spec(Provider.GIT, "/srv/repo")),
    ],
)
def test_parse_convenience(text: str, spec: Spec) -> None:
    assert parse(text) == spec


def test_parse_convenience_errors() -> None:
    with pytest.raises(SpecError, match="missing the ref"):
        parse("gh/u/r")
    with pytest.raises(SpecError, match="is not a repository URL, DOI or absolute path"):
        parse("u/r")


# --- properties ------------------------------------------------------------------------------

_NAME = string.ascii_letters + string.digits
_REF_CHARS = _NAME + "-_+@%#!,;=&()'$.é中ß"
_URL_CHARS = _NAME + "-._~%:@!$&'()*+,;=é"


def _plain_component(alphabet: str) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=8).filter(
        lambda s: not s.startswith(".") and not s.endswith((".", ".lock")) and ".." not in s
    )


_ref_component = _plain_component(_REF_CHARS).filter(lambda s: s != "@")
# refs are 1-4 components joined by '/', so many contain '/'
refs = st.one_of(st.just("HEAD"), st.lists(_ref_component, min_size=1, max_size=4).map("/".join))
gh_users = st.text(_NAME + "-", min_size=1, max_size=12)
gh_names = st.text(_NAME + "-_.", min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
# names a GitHub repository can have: BinderHub drops one '.git', so none ends in '.git'
gh_repo_names = gh_names.filter(lambda s: not s.endswith(".git"))
hosts = st.lists(
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=1, max_size=3
).map(".".join)
url_paths = st.lists(_plain_component(_URL_CHARS), min_size=0, max_size=4).map(
    lambda parts: "".join(f"/{part}" for part in parts)
)


@st.composite
def clone_urls(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["http", "https", "ssh", "git", "file", "path", "scp"]))
    path = draw(url_paths) or "/r"
    suffix = draw(st.sampled_from(["", ".git"]))
    if kind == "path":
        return path + suffix
    if kind == "file":
        return f"file://{path}{suffix}"
    if kind == "scp":
        return f"git@{draw(hosts)}:{path.lstrip('/')}{suffix}"
    port = draw(st.sampled_from(["", ":8080"]))
    return f"{kind}://{draw(hosts)}{port}{path}{suffix}"


dois = st.builds(
    lambda digits, parts: f"10.{digits}/" + "/".join(parts),
    st.from_regex(r"[0-9]{4,9}", fullmatch=True),
    st.lists(_plain_component(_URL_CHARS + '?#[]<>"é中'), min_size=1, max_size=3),
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    provider = draw(st.sampled_from(list(Provider)))
    match provider:
        case Provider.GH:
            return Spec(provider, f"{draw(gh_users)}/{draw(gh_repo_names)}", draw(refs))
        case Provider.GIST:
            gist_id = draw(st.text(_NAME, min_size=1, max_size=32))
            gist_ref = st.none() | st.just("HEAD") | _ref_component  # one segment
            return Spec(provider, f"{draw(gh_users)}/{gist_id}", draw(gist_ref))
        case Provider.GIT:
            return Spec(provider, draw(clone_urls()), draw(refs))
        case Provider.GL:
            project = draw(st.lists(gh_names, min_size=2, max_size=4))
            return Spec(provider, "/".join(project), draw(refs))
        case Provider.HYDROSHARE:
            return Spec(provider, draw(st.text("0123456789abcdef", min_size=32, max_size=32)))
        case Provider.CKAN:
            scheme = draw(st.sampled_from(["http", "https"]))
            query = draw(st.sampled_from(["", "?id=1&x=%20"]))
            return Spec(provider, f"{scheme}://{draw(hosts)}{draw(url_paths)}{query}")
        case _:
            return Spec(provider, draw(dois))


_MARKERS = ("v2", "build", "repo")
hubs = st.builds(
    lambda scheme, host, port, base, slash: f"{scheme}://{host}{port}{base}{slash}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["mybinder.org", "127.0.0.1", "[::1]", "hub.example.org"]) | hosts,
    st.sampled_from(["", ":8585"]),
    st.lists(
        st.text(_NAME + "-_", min_size=1, max_size=6).filter(lambda s: s not in _MARKERS),
        max_size=3,
    ).map(lambda parts: "".join(f"/{part}" for part in parts)),
    st.sampled_from(["", "/"]),
)
urlpaths = (
    st.none()
    | st.sampled_from(
        ["lab", "lab/tree/a b.ipynb", "doc/tree/ü?&#%.ipynb", "/tree/x+y=z", "voila/render/%41"]
    )
    | st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
)

FAST = settings(max_examples=200, deadline=None)


@FAST
@given(specs())
def test_spec_string_round_trips(spec: Spec) -> None:
    assert Spec.parse(str(spec)) == spec
    assert parse(str(spec)) == spec


@FAST
@given(specs(), hubs, urlpaths)
def test_launch_link_round_trips(spec: Spec, hub: str, urlpath: str | None) -> None:
    url = spec.launch_url(hub, urlpath)
    link = parse_launch_link(url)
    assert link == LaunchLink(hub, spec, urlpath)
    assert link.url == url
    assert parse_launch_link(link.url) == link
    assert parse(url) == spec


@FAST
@given(specs())
def test_no_double_encoding(spec: Spec) -> None:
    path = spec.build_path
    assert path == f"build/{spec.provider}/{spec.path}"
    assert not path.startswith("/")
    if "%" not in spec.repo and "%" not in (spec.ref or ""):
        assert "%25" not in path
    assert " " not in path
    assert "?" not in path
    assert "#" not in path


@FAST
@given(gh_users, gh_repo_names, refs)
def test_github_tree_urls_round_trip(user: str, name: str, ref: str) -> None:
    spec = Spec(Provider.GH, f"{user}/{name}", ref)
    url = f"{spec.repo_url}/tree/{spec.path.split('/', 2)[2]}"
    assert Spec.from_url(url) == spec


@pytest.mark.parametrize(
    ("link", "provider"),
    [
        # BinderHub answers these with `failed: No provider found for prefix ...`
        ("http://127.0.0.1:18110/v2/nope/acc-org/x/HEAD", "nope"),
        ("https://mybinder.org/v2/doi/10.5281/zenodo.3242074/", "doi"),
        ("https://hub.example.org/build/fake/org/repo/HEAD", "fake"),
    ],
)
def test_a_link_with_an_unknown_provider_is_refused_not_read_as_a_clone_url(
    link: str, provider: str
) -> None:
    """Seen against the real BinderHub: such a link used to become a `git/<the link>` spec."""
    with pytest.raises(SpecError, match=f"unknown provider '{provider}'"):
        parse(link)


def test_a_clone_url_with_a_v2_folder_stays_a_clone_url() -> None:
    spec = parse("https://example.org/v2/team/repo.git")
    assert spec.provider == "git"
