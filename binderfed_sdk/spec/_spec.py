"""Binder specs, repository URLs, launch links and badges: parsing and formatting, no I/O.

A spec is what follows `/build/` or `/v2/` in a BinderHub URL: `<provider>/<path>`. The hub
takes the path raw and does not unquote it, so a path here is percent-encoded exactly once,
and parsing decodes it exactly once.

Links are read as BinderHub reads them (jupyterhub/binderhub: `builder.py`, `repoproviders.py`,
`main.py`, `app.py`, the `/v2/` page's routes in `static/js/App.jsx` and query handling in
`js/packages/binderhub-client/lib/spec.js`): trailing '/' of a spec dropped, `.git` dropped from
a GitHub repository name, a gist read up to its third segment, a HydroShare resource id found
anywhere in its spec, `labpath` before `filepath` before `urlpath`. Beyond BinderHub's defaults,
`git` also takes `file://` URLs and absolute paths (the sandbox build service clones those; a
BinderHub takes them when `GitRepoProvider.allowed_protocols` allows it).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote, unquote_plus, urlsplit

from binderfed_sdk._errors import SpecError
from binderfed_sdk._lazy import publish
from binderfed_sdk.spec._providers import (
    _SCP,
    _URL,
    BUILTIN_PROVIDERS,
    PROVIDERS,
    Provider,
    ProviderRegistry,
    RepoProvider,
    _check_chars,
    _check_doi,
    _check_escapes,
    _check_value,
    _decode,
    _names,
    _read_hydroshare,
    _split_url,
    page_pattern,
    raw_reader,
    ref_one_segment,
    tidy,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "BADGE_FORMATS",
    "DEFAULT_BADGE",
    "DEFAULT_HUB",
    "BadgeFormat",
    "LaunchLink",
    "Provider",
    "Spec",
    "parse",
    "parse_launch_link",
    "parse_repo_url",
    "parse_spec",
    "parse_target",
]

DEFAULT_HUB: Final = "https://mybinder.org"
DEFAULT_BADGE: Final = "https://mybinder.org/badge_logo.svg"
BadgeFormat = Literal["markdown", "rst", "html", "myst"]
#: every badge format, in the order `binderfed link` prints them
BADGE_FORMATS: Final[tuple[BadgeFormat, ...]] = ("markdown", "rst", "html", "myst")


# --- Spec ------------------------------------------------------------------------------------


def _validate(rule: RepoProvider, repo: str, ref: str | None) -> None:
    """The provider's own checks; a plug-in's plain ValueError becomes a SpecError."""
    if rule.validate is None:
        return
    try:
        rule.validate(repo, ref)
    except SpecError:
        raise
    except ValueError as exc:
        shown = repo if ref is None else f"{repo}' ref '{ref}"
        raise SpecError(f"{rule.name} repo '{shown}' is refused: {exc}") from None


def _split(rule: RepoProvider, path: str, what: str) -> tuple[str, str | None]:
    """The raw repo and ref of a spec's path, split the provider's way."""
    count = rule.repo_segments
    if count is None:
        return path, None
    if count < 0:  # the last segment is the ref
        count, pieces = 1, path.rsplit("/", 1)
    else:
        pieces = path.split("/", count)
    if len(pieces) > count:
        raw_ref = pieces[count]
        if ref_one_segment(rule):
            # the hub ignores what follows; an empty ref is no ref
            return "/".join(pieces[:count]), raw_ref.partition("/")[0] or None
        return "/".join(pieces[:count]), raw_ref
    if len(pieces) == count and rule.ref == "required":
        raise SpecError(
            f"{what} is missing the ref: expected {rule.form}"
            f" (e.g. '{rule.name}/{path}/{rule.default_ref}' for the default branch)"
        )
    return "/".join(pieces), None


@dataclass(frozen=True, slots=True)
class Spec:
    """A validated Binder spec: provider, decoded repo and ref.

    `ref` left as None becomes "HEAD" for gh, git and gl; gist may have a ref (one segment) or
    not; the DOI providers, hydroshare and ckan have none. The repo is kept as BinderHub reads
    it: one `.git` dropped from a GitHub repository name, trailing '/' dropped from a DOI.

    A built-in provider is a `Provider`; another is named by its prefix and found among the
    installed plug-ins (`binderfed.providers`), or its rules are passed as `rules` (a hub's
    listed provider: `hub.repo_providers["myprovider"]`). `rules` is not compared.
    """

    provider: str
    repo: str
    ref: str | None = None
    #: the provider's rules this spec was checked by (found by name when not given)
    rules: RepoProvider | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        name = str(self.provider)
        rule = self.rules if self.rules is not None else PROVIDERS.require(name)
        if rule.name != name:
            raise SpecError(f"spec of provider {name!r} given the rules of {rule.name!r}")
        provider = Provider(name) if name in BUILTIN_PROVIDERS else name
        object.__setattr__(self, "provider", provider)  # a plain "gh" becomes Provider.GH
        object.__setattr__(self, "rules", rule)
        _check_value(f"{provider} repo {self.repo!r}", self.repo)
        object.__setattr__(self, "repo", tidy(rule, self.repo))
        if self.ref is None:
            if rule.ref == "required":
                object.__setattr__(self, "ref", rule.default_ref)
        elif rule.ref == "none":
            raise SpecError(f"{provider} specs have no ref, but ref {self.ref!r} was given")
        elif provider not in BUILTIN_PROVIDERS:
            _check_value(f"{provider} ref {self.ref!r}", self.ref)
        _validate(rule, self.repo, self.ref)
        if self.ref is not None and ref_one_segment(rule) and "/" in self.ref:
            raise SpecError(
                f"{provider} ref {self.ref!r} contains '/': BinderHub reads a {provider} "
                "ref up to the next '/' (a revision id, HEAD, master or main)"
                if provider in BUILTIN_PROVIDERS
                else f"{provider} ref {self.ref!r} contains '/': it is the last segment of "
                f"a spec ({rule.form})"
            )
        count = rule.repo_segments
        if count is not None and count > 1 and not rule.url_encoded:
            _names(f"{provider} repo", self.repo, rule.form, count)

    def __reduce__(self) -> tuple[Any, ...]:
        # a built-in's rules are found again by name (their checks are closures, which pickle
        # cannot carry); another provider's rules travel with the spec
        rules = None if self.provider in BUILTIN_PROVIDERS else self.rules
        return _rebuild, (str(self.provider), self.repo, self.ref, rules)

    @property
    def _rule(self) -> RepoProvider:
        assert self.rules is not None  # noqa: S101 - set by __post_init__
        return self.rules

    @classmethod
    def parse(cls, text: str, *, providers: ProviderRegistry | None = None) -> Spec:
        """Parse `<provider>/<path>` as it appears after `/build/` or `/v2/` (encoded once).

        Read as BinderHub's build handler reads it: trailing '/' dropped first, then split
        the provider's way (see the module docstring). The provider is looked up in
        `providers` (default: the built-in and installed ones; a hub client's
        `repo_providers` also knows the providers its hub lists).
        """
        name, slash, path = text.partition("/")
        if not slash:
            raise SpecError(f"spec {text!r} has no '/': expected '<provider>/<spec>'")
        rule = (PROVIDERS if providers is None else providers).require(name)
        provider = rule.name
        # BinderHub strips every trailing '/' before it reads a spec (builder.py, BuildHandler);
        # real links carry one, DOI-based ones above all
        path = path.rstrip("/")
        what = f"{provider} spec {path!r}"
        if not path:
            raise SpecError(f"{provider} spec is empty: expected {rule.form}")
        _check_chars(what, path)
        for ch in "?#":
            if ch in path:
                # a URL would end the path there, so it can only be a forgotten encoding
                raise SpecError(f"{what} contains a raw {ch!r}: it must be percent-encoded")
        read = raw_reader(rule)
        if read is not None:
            return cls(provider, read(what, path), rules=rule)
        _check_escapes(what, path)
        raw_repo, raw_ref = _split(rule, path, what)
        if rule.url_encoded:
            for ch in ":/":
                if ch in raw_repo:
                    raise SpecError(
                        f"the repo part {raw_repo!r} of {what} is not percent-encoded: it "
                        f"contains a raw {ch!r} (expected {rule.form}, encoded exactly once)"
                    )
        repo = _decode(f"repo part {raw_repo!r} of {what}", raw_repo)
        ref = None if raw_ref is None else _decode(f"ref part {raw_ref!r} of {what}", raw_ref)
        return cls(provider, repo, ref, rules=rule)

    @classmethod
    def from_url(cls, url: str) -> Spec:
        """The spec of a repository URL, DOI or local path (see `parse_repo_url`)."""
        return parse_repo_url(url)[0]

    @property
    def path(self) -> str:
        """The spec after the provider, percent-encoded exactly once, as the hub takes it."""
        path = quote(self.repo, safe="" if self._rule.url_encoded else "/")
        return path if self.ref is None else f"{path}/{quote(self.ref, safe='/')}"

    def __str__(self) -> str:
        return f"{self.provider}/{self.path}"

    @property
    def build_path(self) -> str:
        """The build stream's path relative to the hub: `build/<provider>/<path>`."""
        return f"build/{self}"

    @property
    def repo_url(self) -> str:
        """A best-effort human URL of the repository (without the ref)."""
        rule = self._rule
        return self.repo if rule.repo_url is None else rule.repo_url(self.repo)

    def launch_url(self, hub: str = DEFAULT_HUB, urlpath: str | None = None) -> str:
        """`<hub>/v2/<provider>/<path>[?urlpath=...]`."""
        return LaunchLink(hub, self, urlpath).url

    def badge(
        self,
        fmt: BadgeFormat = "markdown",
        hub: str = DEFAULT_HUB,
        urlpath: str | None = None,
        badge_url: str = DEFAULT_BADGE,
    ) -> str:
        """A "launch binder" badge linking to `launch_url(hub, urlpath)`."""
        return LaunchLink(hub, self, urlpath).badge(fmt, badge_url)


def _rebuild(provider: str, repo: str, ref: str | None, rules: RepoProvider | None) -> Spec:
    return Spec(provider, repo, ref, rules=rules)


def parse_spec(text: str, *, providers: ProviderRegistry | None = None) -> Spec:
    """Same as `Spec.parse`."""
    return Spec.parse(text, providers=providers)


# --- launch links ----------------------------------------------------------------------------

# what a provider's prefix looks like at the start of text that is no URL, path or DOI
_PREFIX: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Path segments that start the Binder part of a link; a hub's base path may not use them.
_MARKERS: Final = ("v2", "build", "repo")
# Query parameters that say what to open, and the urlpath prefix each one means, first the
# one that wins when a link has several (binderhub-client lib/spec.js, fromSearchParams).
_PATH_PARAMS: Final[Mapping[str, str]] = {
    "labpath": "doc/tree/",
    "filepath": "tree/",
    "urlpath": "",
}


def _normalize_hub(hub: str) -> str:
    what = f"hub {hub!r}"
    _check_chars(what, hub)
    parts = _split_url(hub, what)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"{what} must be an http(s) URL like {DEFAULT_HUB}")
    if "?" in hub or "#" in hub:
        raise SpecError(f"{what} must not have a query or fragment")
    path = parts.path.rstrip("/")
    for segment in path.split("/")[1:]:
        if segment in ("", ".", ".."):
            raise SpecError(f"{what} has an empty, '.' or '..' segment in its path")
        if segment in _MARKERS:
            raise SpecError(f"{what} has a {segment!r} path segment: its links would be ambiguous")
    # scheme lower-cased and trailing '/' dropped, so equal hubs compare equal
    return f"{parts.scheme}://{parts.netloc}{path}"


def _check_urlpath(urlpath: str) -> None:
    if not urlpath:
        raise SpecError("urlpath is empty: use None for none")
    for i, ch in enumerate(urlpath):
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise SpecError(
                f"urlpath {urlpath!r} contains control character U+{ord(ch):04X} at position {i}"
            )


def _badge_markdown(link: str, badge_url: str) -> str:
    return f"[![Binder]({badge_url})]({link})"


def _badge_rst(link: str, badge_url: str) -> str:
    return f".. image:: {badge_url}\n   :target: {link}"


def _badge_html(link: str, badge_url: str) -> str:
    import html  # noqa: PLC0415 - 2 ms at import, for the html badge only

    image = f'<img src="{html.escape(badge_url)}" alt="Launch Binder">'
    return f'<a href="{html.escape(link)}">{image}</a>'


def _badge_myst(link: str, badge_url: str) -> str:
    # MyST's image directive (Sphinx and Jupyter Book), whose :target: makes it a link
    return f"```{{image}} {badge_url}\n:alt: Launch Binder\n:target: {link}\n```"


_BADGES: Final[Mapping[str, Callable[[str, str], str]]] = {
    "markdown": _badge_markdown,
    "rst": _badge_rst,
    "html": _badge_html,
    "myst": _badge_myst,
}


@dataclass(frozen=True, slots=True)
class LaunchLink:
    """A Binder launch link: hub (no trailing '/'), spec and what to open after launch."""

    hub: str
    spec: Spec
    urlpath: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hub", _normalize_hub(self.hub))
        if self.urlpath is not None:
            _check_urlpath(self.urlpath)
            # the launch page drops leading '/' (it opens the path relative to the server)
            object.__setattr__(self, "urlpath", self.urlpath.lstrip("/") or None)

    @property
    def url(self) -> str:
        """`<hub>/v2/<provider>/<path>[?urlpath=<quoted>]`."""
        url = f"{self.hub}/v2/{self.spec}"
        # '/' stays readable; '?', '&', '#', '%', '+' and spaces are escaped so they round-trip
        return url if self.urlpath is None else f"{url}?urlpath={quote(self.urlpath, safe='/')}"

    def badge(self, fmt: BadgeFormat = "markdown", badge_url: str = DEFAULT_BADGE) -> str:
        """The badge in Markdown, reStructuredText, HTML or MyST, linking to `url`."""
        formatter = _BADGES.get(fmt)
        if formatter is None:
            raise SpecError(f"unknown badge format {fmt!r}; known: {', '.join(_BADGES)}")
        return formatter(self.url, badge_url)


def _urlpath_from_query(query: str) -> str | None:
    """What the launch page opens, read as a browser's URLSearchParams reads the query.

    The first value of a parameter counts; `labpath` wins over `filepath`, which wins over
    `urlpath`; a malformed escape stays as it is and bad UTF-8 becomes U+FFFD, as in a browser.
    """
    first: dict[str, str] = {}
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        name = unquote_plus(key, errors="replace")
        if name in _PATH_PARAMS and name not in first:
            first[name] = unquote_plus(value, errors="replace")
    for name, prefix in _PATH_PARAMS.items():
        if name in first:
            value = first[name]
            # a file path loses one trailing '/'; an empty urlpath is none
            return prefix + value.removesuffix("/") if prefix else value or None
    return None


def _legacy(segments: list[str], what: str) -> tuple[Spec, str | None]:
    """`/repo/<user>/<repo>[/<path>]`: gh user/repo at "master", the path is the urlpath.

    BinderHub redirects it to `/v2/gh/<user>/<repo>/master[?urlpath=/<path>]` and drops the
    query (main.py, LegacyRedirectHandler; tests/test_legacy.py).
    """
    if len(segments) < 2 or not segments[0] or not segments[1]:
        raise SpecError(f"{what}: a legacy link must be /repo/<user>/<repo>[/<path>]")
    user = _decode(f"user of {what}", segments[0])
    name = _decode(f"repo of {what}", segments[1])
    rest = "/".join(segments[2:])
    urlpath = _decode(f"path of {what}", rest) if rest.strip("/") else None
    return Spec(Provider.GH, f"{user}/{name}", "master"), urlpath


def _check_page(raw: str, what: str, providers: ProviderRegistry | None) -> None:
    """A /v2/ link opens the launch page only if its spec has the provider's shape."""
    name, _, path = raw.partition("/")
    rule = (PROVIDERS if providers is None else providers).require(name)
    page = page_pattern(rule.page_regex)
    if page is not None and not page.fullmatch(path):
        raise SpecError(
            f"{what}: BinderHub's launch page answers 'Not Found' for it: "
            f"a /v2/ link's spec must look like {rule.form}"
        )


def parse_launch_link(url: str, *, providers: ProviderRegistry | None = None) -> LaunchLink:
    """Parse a Binder link: `/v2/...` or `/build/...` on any hub, or legacy `/repo/u/r[/path]`.

    Every link BinderHub takes is read as it reads it, so the spec is the one it would use:
    trailing '/' dropped, and `labpath=<p>` means urlpath `doc/tree/<p>`, `filepath=<p>` means
    `tree/<p>` (`labpath` first, then `filepath`, then `urlpath`); other query parameters and
    the fragment do not change the launch and are ignored, and so is a legacy link's query.
    A link BinderHub refuses (or whose launch page says "Not Found") raises `SpecError`.
    `providers` is where its provider is looked up (see `Spec.parse`).
    """
    # the query stays out of messages: errors must never carry what a link might hide there
    what = f"link {url.split('?', 1)[0].split('#', 1)[0]!r}"
    _check_chars(what, url)
    parts = _split_url(url, what)
    if not parts.scheme or not parts.netloc:
        example = f"{DEFAULT_HUB}/v2/gh/<user>/<repo>/<ref>"
        raise SpecError(f"{what} is not an absolute URL like {example}")
    if parts.scheme not in ("http", "https"):
        raise SpecError(f"{what}: the hub must be http or https, not {parts.scheme!r}")
    segments = parts.path.split("/")[1:]
    at = next((i for i, segment in enumerate(segments) if segment in _MARKERS), None)
    if at is None:
        raise SpecError(f"{what} is not a Binder link: its path has no /v2/, /build/ or /repo/")
    hub = f"{parts.scheme}://{parts.netloc}" + "".join(f"/{s}" for s in segments[:at])
    if segments[at] == "repo":
        spec, urlpath = _legacy(segments[at + 1 :], what)
    else:
        raw = "/".join(segments[at + 1 :])
        # the build handler's reading, with its precise errors
        spec = Spec.parse(raw, providers=providers)
        if segments[at] == "v2":
            _check_page(raw, what, providers)
        urlpath = _urlpath_from_query(parts.query)
    return LaunchLink(hub, spec, urlpath)


# --- repository URLs -------------------------------------------------------------------------

_DOI_HOSTS: Final = frozenset({"doi.org", "dx.doi.org", "www.doi.org"})
_DOI_PREFIXES: Final[Mapping[str, Provider]] = {
    "10.5281": Provider.ZENODO,
    "10.6084": Provider.FIGSHARE,
    "10.4211": Provider.HYDROSHARE,  # 10.4211/hs.<id> (binderhub tests/test_repoproviders.py)
}


def _segments(path: str) -> list[str]:
    """The decoded segments of a URL path, trailing '/' ignored."""
    path = path.strip("/")
    return [_decode(f"URL path segment {s!r}", s) for s in path.split("/")] if path else []


def _ref_and_file(rest: list[str], url: str, site: str) -> tuple[str, str | None]:
    """The ref (and the urlpath of a file) from what follows a repository in a web URL."""
    match rest:
        case []:
            return "HEAD", None
        case ["tree", *ref] if ref:
            return "/".join(ref), None  # all of it: refs may contain '/'
        case ["blob", ref, *file] if file:
            return ref, "doc/tree/" + "/".join(file)
        case ["commit", sha]:
            return sha, None
    raise SpecError(
        f"{site} URL {url!r} has an unsupported path {'/'.join(rest)!r}; expected "
        ".../tree/<ref>, .../blob/<ref>/<file> or .../commit/<sha>"
    )


def _from_github(segments: list[str], url: str) -> tuple[Spec, str | None]:
    if len(segments) < 2:
        raise SpecError(f"GitHub URL {url!r} does not name a repository: expected /<user>/<repo>")
    ref, urlpath = _ref_and_file(segments[2:], url, "GitHub")
    return Spec(Provider.GH, f"{segments[0]}/{segments[1].removesuffix('.git')}", ref), urlpath


def _from_gitlab(segments: list[str], url: str) -> tuple[Spec, str | None]:
    project, rest = segments, []
    if "-" in segments:
        at = segments.index("-")
        project, rest = segments[:at], segments[at + 1 :]
        if not rest:
            raise SpecError(f"GitLab URL {url!r} ends at '/-/': expected /-/tree/<ref>")
    if project:
        project = [*project[:-1], project[-1].removesuffix(".git")]
    ref, urlpath = _ref_and_file(rest, url, "GitLab")
    return Spec(Provider.GL, "/".join(project), ref), urlpath


def _from_gist(segments: list[str], url: str) -> tuple[Spec, str | None]:
    match segments:
        case [user, gist_id]:
            return Spec(Provider.GIST, f"{user}/{gist_id.removesuffix('.git')}"), None
        case [user, gist_id, revision]:
            return Spec(Provider.GIST, f"{user}/{gist_id.removesuffix('.git')}", revision), None
    raise SpecError(f"gist URL {url!r} must be https://gist.github.com/<user>/<id>[/<revision>]")


def _from_zenodo(segments: list[str], url: str) -> tuple[Spec, str | None]:
    match segments:
        case ["record" | "records", number] if re.fullmatch(r"[0-9]+", number):
            return Spec(Provider.ZENODO, f"10.5281/zenodo.{number}"), None
    raise SpecError(f"Zenodo URL {url!r} must be https://zenodo.org/records/<number>")


def _from_hydroshare(segments: list[str], url: str) -> tuple[Spec, str | None]:
    match segments:
        case ["resource", resource]:
            return Spec(Provider.HYDROSHARE, resource), None
    raise SpecError(f"HydroShare URL {url!r} must be https://www.hydroshare.org/resource/<id>/")


# Web hosts whose URLs map to a provider other than plain git.
_HOSTS: Final[Mapping[str, Callable[[list[str], str], tuple[Spec, str | None]]]] = {
    "github.com": _from_github,
    "www.github.com": _from_github,
    "gist.github.com": _from_gist,
    "gitlab.com": _from_gitlab,
    "www.gitlab.com": _from_gitlab,
    "zenodo.org": _from_zenodo,
    "www.zenodo.org": _from_zenodo,
    "hydroshare.org": _from_hydroshare,
    "www.hydroshare.org": _from_hydroshare,
}


def _doi_in(url: str) -> str | None:
    """The DOI that `url` names (`10.…`, `doi:10.…`, `https://doi.org/10.…`), checked, or None."""
    if url[:4].lower() == "doi:":
        doi = url[4:]
    elif url.startswith("10."):
        doi = url
    else:
        parts = _split_url(url, f"URL {url!r}")
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in _DOI_HOSTS:
            return None
        doi = _decode(f"DOI in {url!r}", parts.path.lstrip("/"))
    _check_doi(doi)
    return doi


def parse_repo_url(url: str) -> tuple[Spec, str | None]:
    """The spec of a repository URL, DOI or absolute path, and the urlpath a blob URL implies.

    GitHub, GitLab (gitlab.com), gist, Zenodo, DOI and HydroShare URLs map to their provider;
    any other clone URL (http, https, file, git, ssh, user@host:path) or absolute path is `git`
    at HEAD. A blob URL `.../blob/<ref>/<file>` gives urlpath `doc/tree/<file>`.
    """
    _check_value(f"repository URL {url!r}", url)
    if (doi := _doi_in(url)) is not None:
        provider = _DOI_PREFIXES.get(doi.split("/", 1)[0], Provider.DATAVERSE)
        if provider is Provider.HYDROSHARE:
            return Spec(provider, _read_hydroshare(f"HydroShare DOI {doi!r}", doi)), None
        return Spec(provider, doi), None
    scp = None if "://" in url else _SCP.fullmatch(url)
    if scp is not None and scp["host"].lower() in ("github.com", "www.github.com"):
        return _from_github(_segments(scp["path"]), url)
    parts = _split_url(url, f"repository URL {url!r}")
    site = _HOSTS.get((parts.hostname or "").lower()) if parts.scheme in ("http", "https") else None
    if site is not None:
        return site(_segments(parts.path), url)
    if url.startswith("/") or scp is not None or _URL.fullmatch(url):
        return Spec(Provider.GIT, url), None
    raise SpecError(
        f"{url!r} is not a repository URL, DOI or absolute path "
        "(for a spec string such as 'gh/<user>/<repo>/<ref>' use parse_spec)"
    )


#: what a provider prefix looks like in a link's path (BinderHub's route: `[^/]+`)
_PROVIDER_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def _looks_like_link(text: str, providers: ProviderRegistry) -> bool:
    """An http(s) URL, not on a repository host, whose path reads as a Binder link."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or host in _HOSTS or host in _DOI_HOSTS:
        return False
    segments = parts.path.split("/")[1:]
    at = next((i for i, segment in enumerate(segments) if segment in _MARKERS), None)
    if at is None:
        return False
    if segments[at] == "repo":
        # a clone URL may well have a 'repo' directory; clone URLs tend to end in .git
        return len(segments) >= at + 3 and not parts.path.endswith(".git")
    if at + 1 >= len(segments):
        return False
    if segments[at + 1] in providers:
        return True
    # `/v2/<name>/<spec>` with a provider this client does not know is still a Binder link
    # (BinderHub answers "No provider found for prefix"): refused as one, never read as the
    # clone URL of a git repository; clone URLs tend to end in .git
    return (
        at + 2 < len(segments)
        and _PROVIDER_SHAPE.fullmatch(segments[at + 1]) is not None
        and not parts.path.endswith(".git")
    )


def parse(text: str, *, providers: ProviderRegistry | None = None) -> Spec:
    """A spec from a spec string, a repository URL, DOI or path, or a Binder link.

    Text whose first segment is a provider name is a spec string. An http(s) URL off the
    repository hosts is a Binder link when its path has `/v2/<provider>/`, `/build/<provider>/`
    or `/repo/<user>/<repo>` (not ending in `.git`); anything else is a repository URL.
    Providers are looked up in `providers` (see `Spec.parse`).
    """
    return parse_target(text, providers=providers)[0]


def parse_target(
    text: str, *, providers: ProviderRegistry | None = None
) -> tuple[Spec, str | None]:
    """Like `parse`, with the urlpath a Binder link or a file URL carries (else None)."""
    registry = PROVIDERS if providers is None else providers
    name, slash, _ = text.partition("/")
    if name in registry:
        return Spec.parse(text, providers=registry), None
    if _looks_like_link(text, registry):
        link = parse_launch_link(text, providers=registry)
        return link.spec, link.urlpath
    try:
        return parse_repo_url(text)
    except SpecError as error:
        if not (slash and _PREFIX.fullmatch(name)):
            raise
        # `<name>/...` may be a spec whose provider is unknown: say so too
        try:
            registry.require(name)
        except SpecError as unknown:
            raise SpecError(f"{error}; read as a spec: {unknown}") from None
        raise


publish(__name__)  # public classes show as binderfed_sdk.X
