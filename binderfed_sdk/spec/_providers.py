"""Repository providers: the nine BinderHub has built in, those plug-ins install, a hub's own.

A provider is the first segment of a spec (`gh`, `zenodo`, ...) and the rules that go with it:
how the rest of the spec splits into repo and ref, how each is encoded and checked, how a
repository is shown. `RepoProvider` holds those rules; `ProviderRegistry` finds them by name:
first among the nine built in, then among the `binderfed.providers` entry points that installed
packages register (the built-ins are registered there too), then among the providers a hub
lists in its `/api/repoproviders` answer (`RepoProvider.from_display_config`), which makes a
prefix no plug-in describes acceptable for that hub. Nothing here sends a request.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote, unquote, urlsplit

from binderfed_sdk._errors import ConfigError, SpecError
from binderfed_sdk._lazy import publish

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from importlib.metadata import EntryPoint
    from urllib.parse import SplitResult

__all__ = [
    "BUILTIN_PROVIDERS",
    "ENTRY_POINT_GROUP",
    "Provider",
    "ProviderRegistry",
    "RefRule",
    "RepoProvider",
]

ENTRY_POINT_GROUP: Final = "binderfed.providers"

_logger = logging.getLogger("binderfed")


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


# --- the rules of one provider ---------------------------------------------------------------

RefRule = Literal["required", "optional", "none"]
_REF_RULES: Final = ("required", "optional", "none")
# a prefix as BinderHub routes it (`/build/([^/]+)/...`), printable and without '/'
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class RepoProvider:
    """How one repository provider's specs are laid out, checked and shown.

    `name` is the prefix, the spec's first segment. The rest of the spec is the path:
    `repo_segments` leading '/'-separated segments of it are the repo and the rest is the ref
    (which may contain '/'); -1 makes the last segment the ref; None makes the whole path the
    repo (and is implied by `ref="none"`). A `url_encoded` repo is one segment, percent-encoded
    with its '/' (as BinderHub's `repo.urlEncode` says). `validate(repo, ref)` gets both decoded
    and raises `SpecError` (or `ValueError`) for what the provider refuses. `page_regex` is the
    hub's `spec.validateRegex`: its `/v2/` launch page opens only a path that matches it.

    A package adds a provider by registering one under the `binderfed.providers` entry-point
    group, named by its prefix (`myprovider = "mypackage.binder:PROVIDER"`).
    """

    name: str
    display_name: str
    ref: RefRule = "required"
    repo_segments: int | None = 1
    url_encoded: bool = False
    #: the ref of a spec made without one when `ref` is "required"
    default_ref: str = "HEAD"
    validate: Callable[[str, str | None], object] | None = None
    #: a decoded repo -> a human URL of the repository (default: the repo itself)
    repo_url: Callable[[str], str] | None = None
    page_regex: str | None = None
    #: the spec's shape, for error messages (default: made from the fields above)
    form: str = ""

    def __post_init__(self) -> None:
        what = f"repository provider {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigError(f"{what}: a prefix is letters, digits, '.', '_' and '-'")
        if self.ref not in _REF_RULES:
            raise ConfigError(f"{what}: ref must be one of {', '.join(_REF_RULES)}")
        if self.ref == "none":
            object.__setattr__(self, "repo_segments", None)
        segments = self.repo_segments
        if segments is not None and (segments == 0 or segments < -1):
            raise ConfigError(f"{what}: repo_segments must be a positive number, -1 or None")
        if self.url_encoded and segments not in (1, None):
            raise ConfigError(f"{what}: a url_encoded repo is one segment (repo_segments=1)")
        if self.ref != "none":
            try:
                _check_value(f"{what}: default_ref {self.default_ref!r}", self.default_ref)
            except SpecError as exc:
                raise ConfigError(str(exc)) from None
        if not self.form:
            object.__setattr__(self, "form", _form(self))

    @classmethod
    def from_display_config(cls, config: Mapping[str, Any]) -> RepoProvider:
        """A provider as a hub describes it in `/api/repoproviders` (BinderHub's display_config).

        BinderHub's launch form makes a provider's links as `<id>/<repo>/<ref>`, the repo
        percent-encoded as one segment when `repo.urlEncode` is true; so an encoded repo is the
        first segment and the ref the rest, and a plain repo is all but the last segment. The
        ref, when `ref.enabled`, defaults to `ref.default`. Raises `ConfigError` for an entry
        that is not shaped so.
        """
        name = config.get("id")
        if not isinstance(name, str) or not name:
            raise ConfigError("a listed provider has no id, so its prefix is unknown")
        repo, ref, spec = (_section(config, name, key) for key in ("repo", "ref", "spec"))
        with_ref = ref.get("enabled") is True
        encoded = repo.get("urlEncode") is True
        default_ref = ref.get("default") or "HEAD"
        page_regex, label = spec.get("validateRegex"), repo.get("label")
        display = config.get("displayName")
        if not all(isinstance(v, str | None) for v in (default_ref, page_regex, label, display)):
            raise ConfigError(f"provider {name!r}: a listed name, label or regex is not text")
        shown = f"<{'percent-encoded ' if encoded else ''}{label or 'repository'}>"
        return cls(
            name=name,
            display_name=display or name,
            ref="required" if with_ref else "none",
            repo_segments=(1 if encoded else -1) if with_ref else None,
            url_encoded=encoded,
            default_ref=default_ref,
            page_regex=page_regex,
            form=f"{name}/{shown}" + ("/<ref>" if with_ref else ""),
        )


def _section(config: Mapping[str, Any], name: str, key: str) -> Mapping[str, Any]:
    value = config.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"provider {name!r}: its {key!r} is not an object")
    return value


def _form(provider: RepoProvider) -> str:
    repo = "<percent-encoded repo>" if provider.url_encoded else "<repo>"
    if provider.repo_segments is not None and provider.repo_segments > 1:
        repo = "/".join(f"<part {i}>" for i in range(1, provider.repo_segments + 1))
    ref = {"required": "/<ref>", "optional": "[/<ref>]", "none": ""}[provider.ref]
    return f"{provider.name}/{repo}{ref}"


@functools.lru_cache(maxsize=64)
def page_pattern(regex: str | None) -> re.Pattern[str] | None:
    """The /v2/ page's route for a provider (one trailing '/' allowed), or None for any path.

    A hub's regex is JavaScript's; one that Python cannot compile is not checked here (the hub
    itself will say whether the page opens), rather than refusing the provider.
    """
    if regex is None:
        return None
    try:
        return re.compile(f"(?:{regex})/?", re.DOTALL)
    except re.error:
        return None


# --- the nine built in -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Builtin(RepoProvider):
    """A built-in provider, with BinderHub's own quirks in reading it."""

    # a decoded repo as BinderHub reads it (e.g. one `.git` dropped)
    tidy: Callable[[str], str] = str
    # reads the repo out of the raw path itself, which the hub never decodes (hydroshare)
    read: Callable[[str, str], str] | None = None
    # the hub reads the ref up to the next '/' only (gist)
    ref_one_segment: bool = False


def tidy(provider: RepoProvider, repo: str) -> str:
    """`repo` as the hub reads it."""
    return provider.tidy(repo) if isinstance(provider, _Builtin) else repo


def raw_reader(provider: RepoProvider) -> Callable[[str, str], str] | None:
    return provider.read if isinstance(provider, _Builtin) else None


def ref_one_segment(provider: RepoProvider) -> bool:
    """Whether the hub reads the ref up to the next '/' only."""
    if isinstance(provider, _Builtin):
        return provider.ref_one_segment
    return provider.repo_segments == -1


def _git(name: str, check: Callable[[str], None]) -> Callable[[str, str | None], None]:
    """A git-hosted provider's checks: its own for the repo, `git check-ref-format`'s for refs."""

    def validate(repo: str, ref: str | None) -> None:
        check(repo)
        if ref is not None:
            _check_ref(f"{name} ref {ref!r}", ref)

    return validate


def _repo_only(check: Callable[[str], None]) -> Callable[[str, str | None], None]:
    def validate(repo: str, _ref: str | None) -> None:
        check(repo)

    return validate


def _doi_url(doi: str) -> str:
    return f"https://doi.org/{quote(doi, safe='/')}"


def _doi_provider(name: str, display_name: str) -> _Builtin:
    return _Builtin(
        name=name,
        display_name=display_name,
        ref="none",
        validate=_repo_only(_check_doi),
        repo_url=_doi_url,
        page_regex=r"10\.[0-9]+/.+",
        form=f"{name}/<DOI 10.NNNN/...>",
        tidy=_tidy_doi,
    )


# The shapes of the /v2/ page's routes are each provider's display_config["spec"]
# ["validateRegex"] in binderhub's repoproviders.py (static/js/App.jsx routes on them).
GH: Final = _Builtin(
    name=Provider.GH,
    display_name="GitHub",
    repo_segments=2,
    validate=_git(Provider.GH, _check_gh),
    repo_url=lambda repo: f"https://github.com/{repo}",
    page_regex=r"[^/]+/[^/]+/.+",
    form="gh/<user>/<repo>/<ref>",
    tidy=_tidy_gh,
)
GIST: Final = _Builtin(
    name=Provider.GIST,
    display_name="GitHub Gist",
    ref="optional",
    repo_segments=2,
    validate=_git(Provider.GIST, _check_gist),
    repo_url=lambda repo: f"https://gist.github.com/{repo}",
    page_regex=r"[^/]+/[^/]+(?:/[^/]+)?",
    form="gist/<user>/<gist-id>[/<ref>]",
    ref_one_segment=True,
)
GIT: Final = _Builtin(
    name=Provider.GIT,
    display_name="Git repository",
    url_encoded=True,
    validate=_git(Provider.GIT, _check_git),
    repo_url=str,
    page_regex=r"[^/]+/.+",
    form="git/<percent-encoded clone URL>/<ref>",
)
GL: Final = _Builtin(
    name=Provider.GL,
    display_name="GitLab",
    url_encoded=True,
    validate=_git(Provider.GL, _check_gl),
    repo_url=lambda repo: f"https://gitlab.com/{repo}",
    page_regex=r"[^/]+/.+",
    form="gl/<percent-encoded namespace%2Fproject>/<ref>",
)
ZENODO: Final = _doi_provider(Provider.ZENODO, "Zenodo DOI")
FIGSHARE: Final = _doi_provider(Provider.FIGSHARE, "FigShare DOI")
DATAVERSE: Final = _doi_provider(Provider.DATAVERSE, "Dataverse DOI")
HYDROSHARE: Final = _Builtin(
    name=Provider.HYDROSHARE,
    display_name="Hydroshare resource",
    ref="none",
    validate=_repo_only(_check_hydroshare),
    repo_url=lambda repo: f"https://www.hydroshare.org/resource/{repo}/",
    page_regex=r"[^/]+",
    form="hydroshare/<32 hex digits>",
    read=_read_hydroshare,
)
CKAN: Final = _Builtin(
    name=Provider.CKAN,
    display_name="CKAN dataset",
    ref="none",
    url_encoded=True,
    validate=_repo_only(_check_ckan),
    repo_url=str,
    page_regex=r"[^/]+",
    form="ckan/<percent-encoded dataset URL>",
)

#: BinderHub's nine built-in providers, in its order; `pyproject.toml` registers each under
#: `binderfed.providers` too, so a plug-in's provider is found the same way
BUILTIN_PROVIDERS: Final[Mapping[str, RepoProvider]] = {
    provider.name: provider
    for provider in (GH, GIST, GIT, GL, ZENODO, FIGSHARE, DATAVERSE, HYDROSHARE, CKAN)
}


# --- installed plug-ins ----------------------------------------------------------------------

_installed_cache: tuple[tuple[str, ...], Mapping[str, EntryPoint]] | None = None


def _installed() -> Mapping[str, EntryPoint]:
    """The providers installed packages register, by name, built-ins left out.

    Read once per `sys.path` (a package put on it later is seen), and only when a name is not
    built in: a spec of one of the nine never reads any package metadata.
    """
    global _installed_cache  # noqa: PLW0603 - a cache of read-only data; a lost race rereads
    key = tuple(sys.path)
    cached = _installed_cache
    if cached is not None and cached[0] == key:
        return cached[1]
    # importlib.metadata costs ~30 ms to import: only a plug-in look-up pays for it
    from importlib.metadata import entry_points  # noqa: PLC0415

    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in BUILTIN_PROVIDERS:
            found.setdefault(entry.name, entry)  # the first on sys.path wins, as for imports
    _installed_cache = (key, found)
    return found


def _load(entry: EntryPoint) -> RepoProvider:
    origin = f"provider {entry.name!r} (entry point {entry.value})"
    try:
        provider = entry.load()
    except Exception as exc:
        raise ConfigError(f"cannot load {origin}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(provider, RepoProvider):
        raise ConfigError(f"{origin} is {type(provider).__name__}, not a RepoProvider")
    if provider.name != entry.name:
        raise ConfigError(f"{origin} is named {provider.name!r}; the names must agree")
    return provider


# --- the registry ----------------------------------------------------------------------------


class ProviderRegistry(Mapping[str, RepoProvider]):
    """Providers by prefix: the nine built in, then installed plug-ins', then a hub's listing.

    `PROVIDERS` knows the first two. A hub client's `repo_providers` adds the providers its
    hub lists, once `providers()` has read them; a listed provider no plug-in describes gets
    the rules its listing gives (`RepoProvider.from_display_config`).
    """

    __slots__ = ("_listed", "hub")

    def __init__(self, listed: Iterable[RepoProvider] = (), *, hub: str | None = None) -> None:
        self._listed: dict[str, RepoProvider] = {}
        for provider in listed:
            self._listed.setdefault(provider.name, provider)
        #: the hub whose listing this registry holds, if any
        self.hub = hub

    @classmethod
    def from_listing(cls, data: Any, *, hub: str) -> tuple[ProviderRegistry, list[RepoProvider]]:
        """The registry of a hub from its `/api/repoproviders` answer, and what it lists.

        Each listed provider comes with the most precise rules known (built in, a plug-in's,
        else its listing's) under the name the hub shows it by. Raises `ConfigError` for an
        answer that is not BinderHub's list of display configs.
        """
        if not isinstance(data, list):
            raise ConfigError("expected a JSON list of provider descriptions")
        listed: list[RepoProvider] = []
        for i, config in enumerate(data):
            if not isinstance(config, Mapping):
                raise ConfigError(f"entry {i} is {type(config).__name__}, not an object")
            if "id" not in config:
                # a provider class without its own display_config lists as {}: the hub routes
                # it under a prefix that it does not say
                _logger.warning(
                    "%s lists a provider without an id (entry %d): its prefix is unknown", hub, i
                )
                continue
            try:
                own = RepoProvider.from_display_config(config)
            except ConfigError as exc:
                raise ConfigError(f"entry {i}: {exc}") from None
            known = PROVIDERS.get(own.name)
            listed.append(own if known is None else replace(known, display_name=own.display_name))
        return cls(listed, hub=hub), listed

    def find(self, name: str) -> RepoProvider | None:
        """The provider named `name`, or None; `ConfigError` for a plug-in that fails to load."""
        builtin = BUILTIN_PROVIDERS.get(name)
        if builtin is not None:
            return builtin
        entry = _installed().get(name)
        if entry is not None:
            return _load(entry)
        return self._listed.get(name)

    def require(self, name: str) -> RepoProvider:
        """The provider named `name`; `SpecError` saying which are known if there is none."""
        provider = self.find(name)
        if provider is None:
            known = ", ".join(self)
            where = (
                f"{self.hub} does not list it in /api/repoproviders"
                if self.hub is not None
                else "a provider a hub lists is known once the hub client's providers() has read it"
            )
            raise SpecError(f"unknown provider {name!r}; known providers: {known} ({where})")
        return provider

    def __getitem__(self, name: str) -> RepoProvider:
        provider = self.find(name)
        if provider is None:
            raise KeyError(name)
        return provider

    def __contains__(self, name: object) -> bool:
        # by name only: a broken plug-in is reported when it is used, not when it is named
        return isinstance(name, str) and (
            name in BUILTIN_PROVIDERS or name in _installed() or name in self._listed
        )

    def __iter__(self) -> Iterator[str]:
        installed = _installed()
        yield from BUILTIN_PROVIDERS
        yield from sorted(installed)
        known = BUILTIN_PROVIDERS.keys() | installed.keys()
        yield from (name for name in self._listed if name not in known)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        where = f" of {self.hub}" if self.hub else ""
        return f"<ProviderRegistry{where}: {', '.join(self)}>"


#: the built-in and installed providers
PROVIDERS: Final = ProviderRegistry()

publish(__name__)  # public classes show as binderfed_sdk.X
