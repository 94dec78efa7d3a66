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
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from binderfed_sdk._errors import SpecError
from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from urllib.parse import SplitResult

__all__ = [
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
BadgeFormat = Literal["markdown", "rst", "html"]


class Provider(StrEnum):
    """The repository providers of BinderHub: the first segment of a spec."""

    GH = "gh"
    GIST = "gist"
    GIT = "git"
    GL = "gl"
    ZENODO = "zenodo"
    FIGSHARE = "figshare"
    DATAVERSE = "dataverse"
    HYDROSHARE = "hydroshare"
    CKAN = "ckan"


# --- checks shared by every provider ---------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def _check_chars(what: str, value: str) -> None:
    """No whitespace, control or format characters, no lone surrogates (quote() fails on them)."""
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category == "Cs":
            raise SpecError(f"{what} contains an unpaired surrogate U+{ord(ch):04X} at {i}")
        if ch.isspace():
            raise SpecError(f"{what} contains whitespace U+{ord(ch):04X} at position {i}")
        if category in ("Cc", "Cf"):
            raise SpecError(f"{what} contains control character U+{ord(ch):04X} at position {i}")


def _check_value(what: str, value: str) -> None:
    """A decoded repo or ref: non-empty, printable, no `.`/`..` segments (servers resolve them)."""
    if not value:
        raise SpecError(f"{what} is empty")
    _check_chars(what, value)
    for segment in value.split("/"):
        if segment in (".", ".."):
            raise SpecError(f"{what} has a {segment!r} path segment, which is not allowed")


def _check_escapes(what: str, raw: str) -> None:
    if match := _BAD_ESCAPE.search(raw):
        raise SpecError(
            f"{what} has a malformed percent-escape at position {match.start()} "
            "('%' must be followed by two hex digits; a literal '%' is '%25')"
        )


def _decode(what: str, raw: str) -> str:
    """Decode exactly once; invalid UTF-8 is an error, not a replacement character."""
    _check_escapes(what, raw)
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise SpecError(f"{what} does not decode to UTF-8 text") from None


def _split_url(url: str, what: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise SpecError(f"{what} is not a valid URL: {error}") from None


_REF_FORBIDDEN: Final = "~^:?*[\\"


def _check_ref(what: str, ref: str) -> None:
    """The rules of `git check-ref-format`, so a ref never fails late on the hub."""
    _check_value(what, ref)
    if ref.startswith("/") or "//" in ref:
        raise SpecError(f"{what} has an empty path segment ('//' or a leading '/')")
    if ref.endswith("/"):
        raise SpecError(f"{what} ends with '/', which git rejects")
    if bad := sorted({ch for ch in ref if ch in _REF_FORBIDDEN}):
        shown = " ".join(repr(ch) for ch in bad)
        raise SpecError(f"{what} contains {shown}, which git does not allow in a ref")
    if "@{" in ref or ref == "@":
        raise SpecError(f"{what} contains '@{{' or is '@', which git rejects")
    if ".." in ref:
        raise SpecError(f"{what} contains '..', which git rejects")
    for component in ref.split("/"):
        if component.startswith("."):
            raise SpecError(f"{what} has a component starting with '.', which git rejects")
        if component.endswith(".lock"):
            raise SpecError(f"{what} has a component ending in '.lock', which git rejects")
    if ref.endswith("."):
        raise SpecError(f"{what} ends with '.', which git rejects")


# --- per-provider repo checks ----------------------------------------------------------------

_GH_USER = re.compile(r"[A-Za-z0-9-]+")
_GH_NAME = re.compile(r"[A-Za-z0-9._-]+")
_GIST_ID = re.compile(r"[A-Za-z0-9]+")
# the shape BinderHub's /v2/ page demands of a DOI spec; doi.org decides whether it exists
_DOI = re.compile(r"10\.[0-9]+/.+", re.DOTALL)
# BinderHub knows a HydroShare resource by 32 lower-case hex digits; the last such run counts
_HYDRO_ID = re.compile(r"[0-9a-f]{32}")
_HYDRO_ID_IN = re.compile(r".*([0-9a-f]{32})", re.DOTALL)
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://.*", re.DOTALL)
# user@host:path as BinderHub's git provider recognises it (and clones it as ssh://)
_SCP = re.compile(r"(?P<user>[\w-]+)@(?P<host>[\w.-]+):(?P<path>.+)", re.DOTALL)
_GIT_SCHEMES: Final = ("http", "https", "file", "git", "ssh")


def _names(what: str, value: str, form: str, count: int | None) -> list[str]:
    """Split `value` into `count` (None: two or more) non-empty '/'-separated names."""
    parts = value.split("/")
    wrong_count = len(parts) < 2 if count is None else len(parts) != count
    if wrong_count:
        raise SpecError(f"{what} {value!r} must be {form}")
    if "" in parts:
        raise SpecError(f"{what} {value!r} has an empty part; expected {form}")
    return parts


def _check_gh_user(user: str) -> None:
    if not _GH_USER.fullmatch(user):
        raise SpecError(f"GitHub user name {user!r} may only contain ASCII letters, digits and '-'")


def _tidy_gh(repo: str) -> str:
    """BinderHub drops one `.git` from the repository name (`repo.git` is `repo`)."""
    user, slash, name = repo.partition("/")
    return f"{user}{slash}{name.removesuffix('.git')}" if "/" not in name else repo


def _check_gh(repo: str) -> None:
    user, name = _names("GitHub repo", repo, "'<user>/<repo>'", 2)
    _check_gh_user(user)
    if not _GH_NAME.fullmatch(name):
        raise SpecError(
            f"GitHub repository name {name!r} may only contain ASCII letters, digits, '-', '_', '.'"
        )
    if name.endswith(".git"):
        # BinderHub drops one `.git` only, and GitHub has no repository named `x.git`
        raise SpecError(f"GitHub repository name {name!r} ends in '.git' even without its '.git'")


def _check_gist(repo: str) -> None:
    user, gist_id = _names("gist", repo, "'<user>/<gist-id>'", 2)
    _check_gh_user(user)
    if not _GIST_ID.fullmatch(gist_id):
        raise SpecError(f"gist id {gist_id!r} may only contain ASCII letters and digits")


def _check_gl(repo: str) -> None:
    form = "'<namespace>/<project>' (in a spec encoded as one segment, e.g. 'group%2Fproject')"
    for name in _names("GitLab project", repo, form, None):
        if not _GH_NAME.fullmatch(name):
            raise SpecError(
                f"GitLab project path part {name!r} may only contain ASCII letters, digits, "
                "'-', '_' and '.'"
            )


def _check_git(repo: str) -> None:
    if repo.startswith("/"):
        return  # an absolute local path
    if match := _URL.fullmatch(repo):
        scheme = match["scheme"].lower()
        if scheme not in _GIT_SCHEMES:
            supported = ", ".join(_GIT_SCHEMES)
            raise SpecError(f"git clone URL {repo!r} has scheme {scheme!r}; supported: {supported}")
        parts = _split_url(repo, f"git clone URL {repo!r}")
        missing = "path" if scheme == "file" else "host"
        if not (parts.path if scheme == "file" else parts.netloc):
            raise SpecError(f"git clone URL {repo!r} has no {missing}")
        return
    if _SCP.fullmatch(repo):
        return  # user@host:path, as git and ssh take it
    hint = " (it looks percent-encoded twice)" if _ESCAPE.search(repo) else ""
    raise SpecError(
        f"git repo {repo!r} is not a clone URL (scheme://...), user@host:path "
        f"or absolute path{hint}"
    )


def _tidy_doi(doi: str) -> str:
    """A DOI never ends in '/'; BinderHub would drop it from a link anyway."""
    return doi.rstrip("/")


def _check_doi(doi: str) -> None:
    if not _DOI.fullmatch(doi):
        raise SpecError(
            f"DOI {doi!r} is malformed: expected '10.<digits>/<suffix>', "
            "e.g. '10.5281/zenodo.3242074'"
        )


def _check_hydroshare(repo: str) -> None:
    if not _HYDRO_ID.fullmatch(repo):
        case = " lower-case" if _HYDRO_ID.fullmatch(repo.lower()) else ""
        raise SpecError(
            f"HydroShare resource id {repo!r} must be 32{case} hex digits "
            f"(it has {len(repo)} characters)"
        )


def _read_hydroshare(what: str, raw: str) -> str:
    """The resource id in a raw hydroshare spec: the id, a resource URL or a HydroShare DOI.

    BinderHub does not decode this spec; it takes the last run of 32 lower-case hex digits in it.
    """
    if match := _HYDRO_ID_IN.match(raw):
        return match[1]
    case = " (BinderHub only knows lower-case ids)" if _HYDRO_ID_IN.match(raw.lower()) else ""
    raise SpecError(f"{what} has no HydroShare resource id (32 hex digits){case}")


def _check_ckan(repo: str) -> None:
    parts = _split_url(repo, f"CKAN dataset URL {repo!r}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SpecError(f"CKAN dataset URL {repo!r} must be an http(s) URL with a host")


# --- the provider table ----------------------------------------------------------------------


class _Ref(Enum):
    REQUIRED = "required"  # Spec() fills in "HEAD"; a spec string must carry one
    OPTIONAL = "optional"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class _Rule:
    """How one provider lays out, checks and shows its spec."""

    form: str  # the spec's shape, for error messages
    ref: _Ref
    # how many '/'-separated parts of the path the repo takes (the ref is the rest, so it may
    # contain '/'); None: the whole path is the repo
    parts: int | None
    # the repo is encoded as one path segment, quote(repo, safe=""); else quote(repo, safe="/")
    opaque: bool
    check: Callable[[str], None]  # raises SpecError for an invalid decoded repo
    url: Callable[[str], str]  # decoded repo -> a human URL of the repository
    # the shape the hub's /v2/ page routes on (the raw path, one trailing '/' allowed); any
    # other /v2/ link shows "Not Found" (binderhub static/js/App.jsx, each provider's
    # display_config["spec"]["validateRegex"] in repoproviders.py)
    page: re.Pattern[str]
    tidy: Callable[[str], str] = str  # a decoded repo as BinderHub reads it
    # reads the repo out of the raw path itself, which the hub never decodes (hydroshare)
    read: Callable[[str, str], str] | None = None
    ref_one_segment: bool = False  # the hub reads the ref up to the next '/' only (gist)


def _page(shape: str) -> re.Pattern[str]:
    return re.compile(f"(?:{shape})/?", re.DOTALL)


_ONE_SEGMENT: Final = _page(r"[^/]+")
_REPO_AND_REF: Final = _page(r"[^/]+/.+")


def _doi_url(doi: str) -> str:
    return f"https://doi.org/{quote(doi, safe='/')}"


def _doi_rule(name: str) -> _Rule:
    return _Rule(
        form=f"{name}/<DOI 10.NNNN/...>",
        ref=_Ref.NONE,
        parts=None,
        opaque=False,
        check=_check_doi,
        url=_doi_url,
        page=_page(r"10\.[0-9]+/.+"),
        tidy=_tidy_doi,
    )


# Keyed by provider so a hub's own provider is one more entry, not another branch.
_RULES: Final[Mapping[Provider, _Rule]] = {
    Provider.GH: _Rule(
        form="gh/<user>/<repo>/<ref>",
        ref=_Ref.REQUIRED,
        parts=2,
        opaque=False,
        check=_check_gh,
        url=lambda repo: f"https://github.com/{repo}",
        page=_page(r"[^/]+/[^/]+/.+"),
        tidy=_tidy_gh,
    ),
    Provider.GIST: _Rule(
        form="gist/<user>/<gist-id>[/<ref>]",
        ref=_Ref.OPTIONAL,
        parts=2,
        opaque=False,
        check=_check_gist,
        url=lambda repo: f"https://gist.github.com/{repo}",
        page=_page(r"[^/]+/[^/]+(?:/[^/]+)?"),
        ref_one_segment=True,
    ),
    Provider.GIT: _Rule(
        form="git/<percent-encoded clone URL>/<ref>",
        ref=_Ref.REQUIRED,
        parts=1,
        opaque=True,
        check=_check_git,
        url=str,
        page=_REPO_AND_REF,
    ),
    Provider.GL: _Rule(
        form="gl/<percent-encoded namespace%2Fproject>/<ref>",
        ref=_Ref.REQUIRED,
        parts=1,
        opaque=True,
        check=_check_gl,
        url=lambda repo: f"https://gitlab.com/{repo}",
        page=_REPO_AND_REF,
    ),
    Provider.ZENODO: _doi_rule("zenodo"),
    Provider.FIGSHARE: _doi_rule("figshare"),
    Provider.DATAVERSE: _doi_rule("dataverse"),
    Provider.HYDROSHARE: _Rule(
        form="hydroshare/<32 hex digits>",
        ref=_Ref.NONE,
        parts=None,
        opaque=False,
        check=_check_hydroshare,
        url=lambda repo: f"https://www.hydroshare.org/resource/{repo}/",
        page=_ONE_SEGMENT,
        read=_read_hydroshare,
    ),
    Provider.CKAN: _Rule(
        form="ckan/<percent-encoded dataset URL>",
        ref=_Ref.NONE,
        parts=None,
        opaque=True,
        check=_check_ckan,
        url=str,
        page=_ONE_SEGMENT,
    ),
}


def _provider(name: str) -> Provider:
    try:
        return Provider(name)
    except ValueError:
        known = ", ".join(provider.value for provider in Provider)
        raise SpecError(f"unknown provider {name!r}; known providers: {known}") from None


# --- Spec ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """A validated Binder spec: provider, decoded repo and ref.

    `ref` left as None becomes "HEAD" for gh, git and gl; gist may have a ref (one segment) or
    not; the DOI providers, hydroshare and ckan have none. The repo is kept as BinderHub reads
    it: one `.git` dropped from a GitHub repository name, trailing '/' dropped from a DOI.
    """

    provider: Provider
    repo: str
    ref: str | None = None

    def __post_init__(self) -> None:
        provider = _provider(str(self.provider))
        object.__setattr__(self, "provider", provider)  # a plain "gh" becomes Provider.GH
        rule = _RULES[provider]
        _check_value(f"{provider} repo {self.repo!r}", self.repo)
        object.__setattr__(self, "repo", rule.tidy(self.repo))
        rule.check(self.repo)
        if self.ref is None:
            if rule.ref is _Ref.REQUIRED:
                object.__setattr__(self, "ref", "HEAD")
        elif rule.ref is _Ref.NONE:
            raise SpecError(f"{provider} specs have no ref, but ref {self.ref!r} was given")
        else:
            _check_ref(f"{provider} ref {self.ref!r}", self.ref)
            if rule.ref_one_segment and "/" in self.ref:
                raise SpecError(
                    f"{provider} ref {self.ref!r} contains '/': BinderHub reads a {provider} "
                    "ref up to the next '/' (a revision id, HEAD, master or main)"
                )

    @classmethod
    def parse(cls, text: str) -> Spec:
        """Parse `<provider>/<path>` as it appears after `/build/` or `/v2/` (encoded once).

        Read as BinderHub's build handler reads it: trailing '/' dropped first, then split
        the provider's way (see the module docstring).
        """
        name, slash, path = text.partition("/")
        if not slash:
            raise SpecError(f"spec {text!r} has no '/': expected '<provider>/<spec>'")
        provider = _provider(name)
        rule = _RULES[provider]
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
        if rule.read is not None:
            return cls(provider, rule.read(what, path))
        _check_escapes(what, path)
        raw_repo, raw_ref = path, None
        if rule.parts is not None:
            pieces = path.split("/", rule.parts)
            raw_repo = "/".join(pieces[: rule.parts])
            if len(pieces) > rule.parts:
                raw_ref = pieces[rule.parts]
                if rule.ref_one_segment:
                    # the hub ignores what follows; an empty ref is no ref
                    raw_ref = raw_ref.partition("/")[0] or None
            elif len(pieces) == rule.parts and rule.ref is _Ref.REQUIRED:
                raise SpecError(
                    f"{what} is missing the ref: expected {rule.form}"
                    f" (e.g. '{provider}/{path}/HEAD' for the default branch)"
                )
        if rule.opaque:
            for ch in ":/":
                if ch in raw_repo:
                    raise SpecError(
                        f"the repo part {raw_repo!r} of {what} is not percent-encoded: it "
                        f"contains a raw {ch!r} (expected {rule.form}, encoded exactly once)"
                    )
        repo = _decode(f"repo part {raw_repo!r} of {what}", raw_repo)
        ref = None if raw_ref is None else _decode(f"ref part {raw_ref!r} of {what}", raw_ref)
        return cls(provider, repo, ref)

    @classmethod
    def from_url(cls, url: str) -> Spec:
        """The spec of a repository URL, DOI or local path (see `parse_repo_url`)."""
        return parse_repo_url(url)[0]

    @property
    def path(self) -> str:
        """The spec after the provider, percent-encoded exactly once, as the hub takes it."""
        rule = _RULES[self.provider]
        path = quote(self.repo, safe="" if rule.opaque else "/")
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
        return _RULES[self.provider].url(self.repo)

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


def parse_spec(text: str) -> Spec:
    """Same as `Spec.parse`."""
    return Spec.parse(text)


# --- launch links ----------------------------------------------------------------------------

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


_BADGES: Final[Mapping[str, Callable[[str, str], str]]] = {
    "markdown": _badge_markdown,
    "rst": _badge_rst,
    "html": _badge_html,
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
        """The badge in Markdown, reStructuredText or HTML, linking to `url`."""
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


def _check_page(raw: str, what: str) -> None:
    """A /v2/ link opens the launch page only if its spec has the provider's shape."""
    name, _, path = raw.partition("/")
    rule = _RULES[Provider(name)]
    if not rule.page.fullmatch(path):
        raise SpecError(
            f"{what}: BinderHub's launch page answers 'Not Found' for it: "
            f"a /v2/ link's spec must look like {rule.form}"
        )


def parse_launch_link(url: str) -> LaunchLink:
    """Parse a Binder link: `/v2/...` or `/build/...` on any hub, or legacy `/repo/u/r[/path]`.

    Every link BinderHub takes is read as it reads it, so the spec is the one it would use:
    trailing '/' dropped, and `labpath=<p>` means urlpath `doc/tree/<p>`, `filepath=<p>` means
    `tree/<p>` (`labpath` first, then `filepath`, then `urlpath`); other query parameters and
    the fragment do not change the launch and are ignored, and so is a legacy link's query.
    A link BinderHub refuses (or whose launch page says "Not Found") raises `SpecError`.
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
        spec = Spec.parse(raw)  # the build handler's reading, with its precise errors
        if segments[at] == "v2":
            _check_page(raw, what)
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


def _looks_like_link(text: str) -> bool:
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
    return at + 1 < len(segments) and segments[at + 1] in _RULES


def parse(text: str) -> Spec:
    """A spec from a spec string, a repository URL, DOI or path, or a Binder link.

    Text whose first segment is a provider name is a spec string. An http(s) URL off the
    repository hosts is a Binder link when its path has `/v2/<provider>/`, `/build/<provider>/`
    or `/repo/<user>/<repo>` (not ending in `.git`); anything else is a repository URL.
    """
    return parse_target(text)[0]


def parse_target(text: str) -> tuple[Spec, str | None]:
    """Like `parse`, with the urlpath a Binder link or a file URL carries (else None)."""
    if text.partition("/")[0] in _RULES:
        return Spec.parse(text), None
    if _looks_like_link(text):
        link = parse_launch_link(text)
        return link.spec, link.urlpath
    return parse_repo_url(text)


publish(__name__)  # public classes show as binderfed_sdk.X
