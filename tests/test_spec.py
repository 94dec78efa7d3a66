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
        (Spec(Provider.GIST, "u/abc", "r/2"), "u/abc/r/2"),
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
    spec = Spec("gh", "u/r")  # type: ignore[arg-type]
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
        ("gh/user/repo/feature/", "ends with '/'"),
        ("gh/user/repo/x.lock", "'.lock'"),
        ("gh/user/repo/x.lock/y", "'.lock'"),
        ("gh/user/repo/a..b", "contains '..'"),
        ("gh/user/repo/a@{1}", "'@{'"),
        ("gh/user/repo/@", "'@{' or is '@'"),
        ("gh/user/repo/.hidden", "starting with '.'"),
        ("gh/user/repo/v1.", "ends with '.'"),
        ("gist/user", "must be '<user>/<gist-id>'"),
        ("gist/user/ab-cd", "gist id 'ab-cd'"),
        ("gist/user/abc/", "is empty"),
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
        ("zenodo/10.12/x", "DOI '10.12/x' is malformed"),
        ("zenodo/11.5281/zenodo.1", "is malformed"),
        ("zenodo/10.5281/", "is malformed"),
        ("zenodo/10.5281", "is malformed"),
        ("zenodo/10.5281/a%20b", "whitespace"),
        ("zenodo/10.5281/a//b", "empty path segment"),
        ("figshare/10.6084/../x", "'..' path segment"),
        ("hydroshare/abc", "32 hex"),
        (f"hydroshare/{HYDRO[:-1]}g", "must be 32 hex digits"),
        (f"hydroshare/{HYDRO}/HEAD", "must be 32 hex digits"),
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
    ],
)
def test_constructor_errors(provider: Provider, repo: str, ref: str | None, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec(provider, repo, ref)
    assert fragment in str(info.value)


def test_unknown_provider_in_constructor() -> None:
    with pytest.raises(SpecError, match="unknown provider 'svn'"):
        Spec("svn", "x")  # type: ignore[arg-type]


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
        ("doi:10.12/x", "is malformed"),
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
            "https://hub.org/base/repo/u/r?urlpath=tree",
            LaunchLink("https://hub.org/base", Spec(Provider.GH, "u/r", "master"), "tree"),
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
        ("https://mybinder.org/v2/gh/u/r/HEAD/", "ends with '/'"),
        ("https://mybinder.org/v2/", "has no '/'"),
        ("https://mybinder.org/repo/u", "a legacy link must be /repo/<user>/<repo>"),
        ("https://mybinder.org/repo/u/r/x?urlpath=y", "both after /repo/ and in its query"),
        (
            "https://mybinder.org/v2/gh/u/r/HEAD?urlpath=a&labpath=b",
            "more than once (urlpath, labpath)",
        ),
        ("https://mybinder.org/v2/gh/u/r/HEAD?urlpath=a&urlpath=b", "more than once"),
        ("https://mybinder.org/v2/gh/u/r/HEAD?urlpath=100%", "malformed percent-escape"),
        ("https://mybinder.org/v2/gh/u/r/HEAD?urlpath=%FF", "does not decode to UTF-8"),
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
            return Spec(provider, f"{draw(gh_users)}/{draw(gh_names)}", draw(refs))
        case Provider.GIST:
            gist_id = draw(st.text(_NAME, min_size=1, max_size=32))
            return Spec(provider, f"{draw(gh_users)}/{gist_id}", draw(st.none() | refs))
        case Provider.GIT:
            return Spec(provider, draw(clone_urls()), draw(refs))
        case Provider.GL:
            project = draw(st.lists(gh_names, min_size=2, max_size=4))
            return Spec(provider, "/".join(project), draw(refs))
        case Provider.HYDROSHARE:
            return Spec(provider, draw(st.text("0123456789abcdefABCDEF", min_size=32, max_size=32)))
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
@given(gh_users, gh_names, refs)
def test_github_tree_urls_round_trip(user: str, name: str, ref: str) -> None:
    name = name.removesuffix(".git") or "r"  # from_url drops a .git suffix
    spec = Spec(Provider.GH, f"{user}/{name}", ref)
    url = f"{spec.repo_url}/tree/{spec.path.split('/', 2)[2]}"
    assert Spec.from_url(url) == spec
