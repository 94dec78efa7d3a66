"""Repository providers: the nine built in through `binderfed.providers`, a plug-in's (a real
distribution's metadata on sys.path), and a hub's own, read from its `/api/repoproviders`
(the test WireHub listing one more, as a BinderHub configured with its own provider does)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import pickle
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pytest
from wirehub import REPO_PROVIDERS

from binderfed_sdk import (
    AsyncBinderHub,
    BinderHub,
    BuildFailed,
    ConfigError,
    ProtocolError,
    Provider,
    ProviderRegistry,
    RepoProvider,
    Spec,
    SpecError,
    parse,
)
from binderfed_sdk.spec import PROVIDERS, parse_launch_link
from binderfed_sdk.spec._providers import BUILTIN_PROVIDERS, ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from pathlib import Path

    from wirehub import WireHub

PLUGIN = """
from binderfed_sdk import RepoProvider, SpecError

def _check(repo, ref):
    owner, _, name = repo.partition("/")
    if owner == "banned":
        raise SpecError("owner 'banned' is not served")
    if name.startswith("-"):
        raise ValueError("a project name cannot start with '-'")

CODEBERG = RepoProvider(
    name="codeberg",
    display_name="Codeberg",
    repo_segments=2,
    validate=_check,
    repo_url=lambda repo: f"https://codeberg.org/{repo}",
    page_regex=r"[^/]+/[^/]+/[^/]+",  # its launch page takes one-segment refs only
)
GH_AGAIN = RepoProvider(name="gh", display_name="not GitHub", ref="none")
MISNAMED = RepoProvider(name="other", display_name="Other")
NOT_A_PROVIDER = {"name": "dicty"}
"""

# A hub's own provider as BinderHub lists it: the display_config of a RepoProvider subclass
# (binderhub repoproviders.py; app.py serves the list at /api/repoproviders)
OWN = {
    "displayName": "Software Heritage",
    "id": "swh",
    "spec": {"validateRegex": r"[^/]+/.+"},
    "repo": {"label": "SWHID", "placeholder": "swh:1:dir:...", "urlEncode": True},
    "ref": {"enabled": True, "default": "HEAD"},
}
SWHID = "swh:1:dir:d198bc9d7a6bcf6db04f476d29314f157507d505"


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution registering providers: its module and its metadata."""
    (tmp_path / "provplugin.py").write_text(PLUGIN)
    info = tmp_path / "provplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: provplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "codeberg = provplugin:CODEBERG\n"
        "gh = provplugin:GH_AGAIN\n"
        "misnamed = provplugin:MISNAMED\n"
        "dicty = provplugin:NOT_A_PROVIDER\n"
        "gone = provplugin_gone:X\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


# --- the nine built in -----------------------------------------------------------------------


def test_the_package_registers_the_nine_built_in_providers() -> None:
    registered = {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(BUILTIN_PROVIDERS) <= set(registered)
    assert list(BUILTIN_PROVIDERS) == [provider.value for provider in Provider]
    for name, provider in BUILTIN_PROVIDERS.items():
        # the entry point and the table used without reading metadata are the same object
        assert registered[name].load() is provider
        assert provider.name == name
    assert list(PROVIDERS) == list(BUILTIN_PROVIDERS)  # nothing else is installed here


def test_an_unknown_prefix_is_a_clear_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        Spec.parse("swh/x/HEAD")
    text = str(info.value)
    assert text.startswith("unknown provider 'swh'; known providers: gh, gist, git, gl, zenodo")
    assert "providers() has read it" in text
    with pytest.raises(SpecError, match="unknown provider 'swh'"):
        Spec("swh", "x")
    # text that could be a repository URL as well says both
    with pytest.raises(SpecError) as info:
        parse("swh/x/HEAD")
    assert "is not a repository URL" in str(info.value)
    assert "read as a spec: unknown provider 'swh'" in str(info.value)
    with pytest.raises(SpecError, match="unknown provider 'swh'"):
        parse_launch_link("https://mybinder.org/v2/swh/x/HEAD")


# --- a plug-in's provider --------------------------------------------------------------------


@pytest.mark.usefixtures("plugin")
def test_a_plugin_provider_is_a_provider_like_the_built_in_ones() -> None:
    assert "codeberg" in PROVIDERS
    assert list(PROVIDERS)[:9] == list(BUILTIN_PROVIDERS)
    spec = Spec.parse("codeberg/forgejo/forgejo/v1.2/fix")
    assert (spec.provider, spec.repo, spec.ref) == ("codeberg", "forgejo/forgejo", "v1.2/fix")
    assert spec.rules is PROVIDERS["codeberg"]
    assert str(spec) == "codeberg/forgejo/forgejo/v1.2/fix"
    assert Spec.parse(str(spec)) == spec
    assert spec == Spec("codeberg", "forgejo/forgejo", "v1.2/fix")
    assert Spec("codeberg", "a/b").ref == "HEAD"
    assert spec.repo_url == "https://codeberg.org/forgejo/forgejo"
    assert parse("codeberg/a/b/main") == Spec("codeberg", "a/b", "main")
    assert (
        spec.launch_url("https://h.example")
        == "https://h.example/v2/codeberg/forgejo/forgejo/v1.2/fix"
    )
    link = Spec("codeberg", "a/b", "v1").launch_url("https://hub.example", urlpath="lab")
    assert link == "https://hub.example/v2/codeberg/a/b/v1?urlpath=lab"
    assert parse_launch_link(link).spec == Spec("codeberg", "a/b", "v1")
    assert parse(link) == Spec("codeberg", "a/b", "v1")


@pytest.mark.usefixtures("plugin")
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("codeberg/banned/x/HEAD", "owner 'banned' is not served"),
        # a plug-in's plain ValueError becomes a SpecError naming the provider
        ("codeberg/a/-x/HEAD", "codeberg repo 'a/-x' ref 'HEAD' is refused: a project name"),
        ("codeberg/a/b", "missing the ref: expected codeberg/<part 1>/<part 2>/<ref>"),
        ("codeberg/a/../HEAD", "'..' path segment"),
        ("codeberg/a/b/x%20y", "whitespace U+0020"),
    ],
)
def test_a_plugin_provider_checks_its_specs(text: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        Spec.parse(text)
    assert fragment in str(info.value)


@pytest.mark.usefixtures("plugin")
def test_a_plugin_provider_checks_the_shape_of_a_repo_it_is_given() -> None:
    with pytest.raises(SpecError, match=r"must be codeberg/<part 1>/<part 2>/<ref>"):
        Spec("codeberg", "a/b/c")
    # its /v2/ page regex is the launch page's route
    with pytest.raises(SpecError, match="launch page answers 'Not Found'"):
        parse_launch_link("https://hub.example/v2/codeberg/a/b/feature/x")
    assert parse_launch_link("https://hub.example/build/codeberg/a/b/feature/x").spec.ref == (
        "feature/x"
    )


@pytest.mark.usefixtures("plugin")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("misnamed", r"provider 'misnamed' \(entry point provplugin:MISNAMED\) is named 'other'"),
        ("dicty", r"provider 'dicty' \(entry point provplugin:NOT_A_PROVIDER\) is dict, not a"),
        ("gone", r"cannot load provider 'gone' \(entry point provplugin_gone:X\): ModuleNotFound"),
    ],
)
def test_a_broken_plugin_provider_is_reported_when_used(name: str, message: str) -> None:
    assert name in PROVIDERS  # named, not loaded
    with pytest.raises(ConfigError, match=message):
        Spec.parse(f"{name}/a/b")
    assert Spec.parse("gh/a/b/HEAD").repo == "a/b"  # the others are unaffected


@pytest.mark.usefixtures("plugin")
def test_a_plugin_cannot_replace_a_built_in_provider() -> None:
    assert PROVIDERS["gh"] is BUILTIN_PROVIDERS["gh"]
    assert Spec.parse("gh/u/r/HEAD").ref == "HEAD"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"name": "a/b"}, "a prefix is letters"),
        ({"name": ""}, "a prefix is letters"),
        ({"ref": "maybe"}, "ref must be one of required, optional, none"),
        ({"repo_segments": 0}, "repo_segments must be a positive number, -1 or None"),
        ({"repo_segments": -2}, "repo_segments must be a positive number, -1 or None"),
        ({"url_encoded": True, "repo_segments": 2}, "a url_encoded repo is one segment"),
        ({"default_ref": "a b"}, "default_ref 'a b' contains whitespace"),
    ],
)
def test_a_provider_definition_that_cannot_work_is_refused(
    fields: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RepoProvider(**{"name": "x", "display_name": "X", **fields})
    assert fragment in str(info.value)


# --- a hub's own providers, from its listing -------------------------------------------------

# BinderHub's own display configs (repoproviders.py), and specs each built-in provider reads
BINDERHUB_LISTED = [
    (
        {
            "displayName": "GitHub",
            "id": "gh",
            "spec": {"validateRegex": r"[^/]+/[^/]+/.+"},
            "repo": {"label": "GitHub repository name or URL", "urlEncode": False},
            "ref": {"enabled": True, "default": "HEAD"},
        },
        ["gh/binder-examples/requirements/HEAD", "gh/u/r/0123abc"],
    ),
    (
        {
            "displayName": "Git repository",
            "id": "git",
            "spec": {"validateRegex": r"[^/]+/.+"},
            "repo": {"label": "Arbitrary git repository URL", "urlEncode": True},
            "ref": {"enabled": True, "default": "HEAD"},
        },
        ["git/https%3A%2F%2Fh.org%2Fa.git/main", "git/https%3A%2F%2Fh.org%2Fa/feature/x"],
    ),
    (
        {
            "displayName": "GitLab",
            "id": "gl",
            "spec": {"validateRegex": r"[^/]+/.+"},
            "repo": {"label": "GitLab repository name or URL", "urlEncode": True},
            "ref": {"enabled": True, "default": "HEAD"},
        },
        ["gl/group%2Fsub%2Fproject/main"],
    ),
    (
        {
            "displayName": "Zenodo DOI",
            "id": "zenodo",
            "spec": {"validateRegex": r"10\.\d+\/(.)+"},
            "repo": {"label": "Zenodo DOI", "urlEncode": False},
            "ref": {"enabled": False},
        },
        ["zenodo/10.5281/zenodo.3242074"],
    ),
    (
        {
            "displayName": "CKAN dataset",
            "id": "ckan",
            "spec": {"validateRegex": "[^/]+"},
            "repo": {"label": "CKAN dataset URL", "urlEncode": True},
            "ref": {"enabled": False},
        },
        ["ckan/https%3A%2F%2Fdemo.ckan.org%2Fdataset%2Fx"],
    ),
]


@pytest.mark.parametrize(("config", "specs"), BINDERHUB_LISTED)
def test_rules_read_from_a_listing_agree_with_the_built_in_ones(
    config: dict[str, Any], specs: list[str]
) -> None:
    # as if a hub listed a built-in provider under another prefix
    own = RepoProvider.from_display_config({**config, "id": "own"})
    registry = ProviderRegistry([own], hub="https://hub.example")
    assert own.display_name == config["displayName"]
    for text in specs:
        builtin = Spec.parse(text)
        listed = Spec.parse("own/" + text.partition("/")[2], providers=registry)
        assert (listed.repo, listed.ref) == (builtin.repo, builtin.ref), text
        assert listed.path == builtin.path
        assert Spec.parse(str(listed), providers=registry) == listed


def test_a_listed_provider_is_known_to_that_hubs_registry_only() -> None:
    registry, listed = ProviderRegistry.from_listing(
        [*REPO_PROVIDERS, OWN], hub="https://hub.example"
    )
    assert [p.name for p in listed] == [*(p["id"] for p in REPO_PROVIDERS), "swh"]
    assert "swh" in registry
    assert "swh" not in PROVIDERS
    assert list(registry)[-1] == "swh"
    spec = Spec.parse(f"swh/{SWHID.replace(':', '%3A')}/HEAD", providers=registry)
    assert (spec.repo, spec.ref) == (SWHID, "HEAD")
    assert spec == Spec("swh", SWHID, rules=registry["swh"])
    assert spec.repo_url == SWHID
    with pytest.raises(SpecError, match=r"https://hub\.example does not list it"):
        Spec.parse("other/x/HEAD", providers=registry)
    with pytest.raises(SpecError, match="not percent-encoded"):
        Spec.parse(f"swh/{SWHID}/HEAD", providers=registry)


def test_a_listed_built_in_keeps_its_rules_under_the_hubs_name() -> None:
    _, listed = ProviderRegistry.from_listing(REPO_PROVIDERS, hub="https://hub.example")
    gitlab = next(p for p in listed if p.name == "gl")
    assert gitlab.display_name == "GitLab.com"  # as the hub shows it
    assert gitlab.validate is BUILTIN_PROVIDERS["gl"].validate
    assert gitlab.form == BUILTIN_PROVIDERS["gl"].form


@pytest.mark.parametrize(
    ("listing", "fragment"),
    [
        ({"id": "gh"}, "expected a JSON list"),
        (["gh"], "entry 0 is str, not an object"),
        ([{"id": "a b"}], "entry 0: repository provider 'a b': a prefix is letters"),
        ([{"id": "x", "repo": "plain"}], "entry 0: provider 'x': its 'repo' is not an object"),
        ([{"id": "x", "spec": {"validateRegex": 3}}], "a listed name, label or regex is not"),
    ],
)
def test_a_listing_that_is_not_binderhubs_is_refused(listing: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        ProviderRegistry.from_listing(listing, hub="https://hub.example")
    assert fragment in str(info.value)


# --- against a hub that lists one more -------------------------------------------------------


def test_a_hubs_own_provider_builds_once_the_hub_has_listed_it(wirehub: WireHub) -> None:
    wirehub.extra_providers = [OWN]
    text = f"swh/{SWHID.replace(':', '%3A')}/HEAD"
    with BinderHub(wirehub.url) as hub:
        with pytest.raises(SpecError, match=r"unknown provider 'swh'.*providers\(\) has read"):
            hub.build(text)
        assert not any("/build/" in path for _, path, _ in wirehub.requests)  # nothing sent
        listed = hub.providers()
        swh = next(p for p in listed if p.name == "swh")
        assert swh.display_name == "Software Heritage"
        assert hub.repo_providers["swh"] == swh
        with hub.build(text) as stream:
            events = list(stream)
        assert events[-1].is_ready
        assert f"/build/{text}" in wirehub.hits
        # a Spec with the hub's provider, made by the caller, is taken as well
        spec = Spec("swh", SWHID, "HEAD", rules=hub.repo_providers["swh"])
        session = hub.launch(spec)
        assert session.spec == spec
        session.shutdown()
        with pytest.raises(SpecError, match=r"unknown provider 'nope'.* does not list it"):
            hub.build("nope/x/HEAD")


@pytest.mark.usefixtures("plugin")
def test_a_plugin_provider_the_hub_does_not_have_fails_as_the_hub_says(wirehub: WireHub) -> None:
    with BinderHub(wirehub.url) as hub, pytest.raises(BuildFailed) as info:
        list(hub.build("codeberg/a/b/HEAD"))
    # BinderHub's own refusal (builder.py), as a `failed` event: not dropped on the way
    assert info.value.message == "No provider found for prefix codeberg"


def test_a_listed_provider_without_an_id_is_reported(
    wirehub: WireHub, caplog: pytest.LogCaptureFixture
) -> None:
    # a provider class without a display_config of its own lists as {}
    wirehub.extra_providers = [{}, OWN]
    with BinderHub(wirehub.url) as hub, caplog.at_level(logging.WARNING, logger="binderfed"):
        listed = hub.providers()
    assert [p.name for p in listed][-1] == "swh"
    assert f"lists a provider without an id (entry {len(REPO_PROVIDERS)})" in caplog.text


def test_a_listing_that_is_not_binderhubs_is_a_protocol_error(wirehub: WireHub) -> None:
    wirehub.extra_providers = ["swh"]  # type: ignore[list-item]
    with BinderHub(wirehub.url) as hub, pytest.raises(ProtocolError) as info:
        hub.providers()
    assert "providers: entry 5 is str, not an object" in str(info.value)
    assert hub.repo_providers is PROVIDERS  # the last good registry stays


def test_the_async_client_reads_the_listing_too(wirehub: WireHub) -> None:
    wirehub.extra_providers = [OWN]
    text = f"swh/{SWHID.replace(':', '%3A')}/main"

    async def scenario() -> list[str]:
        async with AsyncBinderHub(wirehub.url) as hub:
            with pytest.raises(SpecError, match="unknown provider 'swh'"):
                hub.build(text)
            names = [p.name for p in await hub.providers()]
            async with hub.build(text) as stream:
                phases = [event.phase async for event in stream]
            assert phases[-1] == "ready"
            return names

    assert asyncio.run(scenario())[-1] == "swh"


def test_specs_pickle_and_copy_with_their_rules() -> None:
    registry, _ = ProviderRegistry.from_listing([OWN], hub="https://hub.example")
    for spec in (
        Spec.parse("gh/u/r/main"),
        Spec.parse("zenodo/10.5281/zenodo.1"),
        Spec("swh", SWHID, rules=registry["swh"]),
    ):
        again = pickle.loads(pickle.dumps(spec))  # noqa: S301 - our own bytes
        assert again == spec
        assert again.path == spec.path
        assert copy.deepcopy(spec) == spec
        assert dataclasses.replace(spec, repo=spec.repo).rules is spec.rules
