"""Member lists by name through the `binderfed.federations` entry-point group: the built-in
mybinder one, the sandbox's, and a plugin's (a real distribution's metadata on sys.path)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pytest

from binderfed_sdk import FederationError, SandboxError, load_federation
from binderfed_sdk.federation import builtin_federations
from binderfed_sdk.federation._config import ENTRY_POINT_GROUP, mybinder

if TYPE_CHECKING:
    from pathlib import Path

PLUGIN = """
def members():
    return {"name": "plugged", "hosts": {"one": {"url": "https://one.example/"}}}

def broken():
    raise OSError("the member list server is down")

def not_a_mapping():
    return ["one"]

NOT_CALLABLE = {"hosts": {}}
"""


def test_the_package_registers_mybinder_and_the_sandbox() -> None:
    registered = {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert registered["mybinder"] == "binderfed_sdk.federation._config:mybinder"
    assert registered["sandbox"] == "binderfed_sdk.sandbox.manager:federation"
    assert builtin_federations()[0] == "mybinder"
    assert "sandbox" in builtin_federations()
    # the entry point and the default (loaded without metadata) are the same data
    assert entry_points(group=ENTRY_POINT_GROUP)["mybinder"].load()() == mybinder()
    assert load_federation().name == "mybinder"


def test_the_sandbox_entry_says_none_is_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINDERFED_SANDBOX_DIR", str(tmp_path / "nothing-here"))
    with pytest.raises(SandboxError, match=r"no sandbox is running.*binderfed sandbox up"):
        load_federation("sandbox")


def test_the_sandbox_entry_reads_the_running_sandboxs_member_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the state file `binderfed sandbox up` writes, pointing at its member list
    members = {"name": "sandbox", "hosts": {"alpha": {"url": "http://127.0.0.1:9/"}}}
    (tmp_path / "federation.json").write_text(json.dumps(members))
    member = {"name": "alpha", "pid": 1, "port": 9}
    state = {
        "dir": str(tmp_path),
        "redirector_url": "http://127.0.0.1:8/",
        "redirector": {"name": "redirector", "pid": 1},
        "members": [
            {
                "name": "alpha",
                "url": "http://127.0.0.1:9/",
                "hub_url": "http://127.0.0.1:10/",
                "weight": 1,
                "prime": True,
                "registry": "registry.alpha:5000",
                "hub": member,
                "builder": member,
            }
        ],
        "settings": {},
        "federation_file": str(tmp_path / "federation.json"),
        "repos_dir": str(tmp_path),
        "started_at": 0,
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    monkeypatch.setenv("BINDERFED_SANDBOX_DIR", str(tmp_path))
    config = load_federation("sandbox")
    assert config.name == "sandbox"
    assert [m.name for m in config.members] == ["alpha"]


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution registering federations: its module and its metadata."""
    (tmp_path / "fedplugin.py").write_text(PLUGIN)
    info = tmp_path / "fedplugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fedplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "plugged = fedplugin:members\n"
        "broken = fedplugin:broken\n"
        "listy = fedplugin:not_a_mapping\n"
        "constant = fedplugin:NOT_CALLABLE\n"
        "missing = fedplugin_gone:members\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.usefixtures("plugin")
def test_a_plugin_federation_loads_by_name() -> None:
    assert {"plugged", "broken", "listy", "constant", "missing"} <= set(builtin_federations())
    config = load_federation("plugged")
    assert config.name == "plugged"
    assert config.member("one").url == "https://one.example/"


@pytest.mark.usefixtures("plugin")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("broken", r"'broken' \(entry point fedplugin:broken\) failed: OSError: the member list"),
        ("listy", r"'listy' \(entry point fedplugin:not_a_mapping\) returned list, not a mapping"),
        ("constant", r"'constant' \(entry point fedplugin:NOT_CALLABLE\) is not callable"),
        ("missing", r"cannot load federation 'missing' \(entry point fedplugin_gone:members\)"),
    ],
)
def test_a_plugin_that_fails_to_load_raises_federation_error(name: str, message: str) -> None:
    with pytest.raises(FederationError, match=message):
        load_federation(name)


def test_an_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(FederationError, match=r"neither a built-in \(mybinder, .*sandbox"):
        load_federation("no-such-federation")


def test_a_mapping_is_still_taken_as_it_is() -> None:
    data: dict[str, Any] = {"hosts": {"one": {"url": "https://one.example"}}}
    assert load_federation(data).member("one").url == "https://one.example/"
