"""The README's examples, run as written, so that the README cannot drift from the code.

Python blocks: pytest-examples finds them, lints them (ruff, and black's layout at the project's
line length) and runs them in the order a reader would, in one namespace (the "Federations"
block goes on with the `bf` and `spec` of the first block). Shell blocks: every command line of
every ``sh`` block runs as a process, through bash, with the installed `binderfed` command.

There is no internet here, so whatever needs a hub runs against real local servers on
127.0.0.1, reached in two ways:

* `BinderHub("https://mybinder.org")` names its hub explicitly, and an explicit URL rightly wins
  over any environment variable, so the test replaces that literal in the example's text with
  the URL of a local front door like mybinder.org's: the sandbox's redirector, answering each
  `/build` with a 307 to its member, a WireHub (whose launches land on a real `jupyter server`),
  and passing everything else to that member as its prime. It asserts the literal is there
  first: a README that changes it fails here instead of silently going to the internet.
* `bf.Federation()` and the CLI's defaults follow `$BINDERFED_FEDERATION` and `$BINDERFED_HUB`,
  variables the SDK honours for exactly this, so those lines run unchanged: the federation is a
  member list of local WireHubs, the hub one of them.

The first block (install, then `binderfed sandbox demo`; install, then the whole suite) is not
run from here: it would reinstall the package and run this suite from inside itself. `.ci/run`
runs its second line, which the last test checks by reading the README as `.ci/run` does; the
demo is `tests/test_sandbox.py::test_cli_demo_prints_member_url_time_and_memory`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples
from servers import SESSION_ENV
from wirehub import WireHub

from binderfed_sdk.federation._config import load_federation
from binderfed_sdk.sandbox.redirector import Redirector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from servers import JupyterServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PUBLIC_HUB = 'BinderHub("https://mybinder.org")'
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}

# what each command of the README's shell blocks must print, so a command that runs but says
# nothing useful fails; a new command in the README needs its line here
EXPECTED_OUTPUT = {
    "link": "/v2/gh/binder-examples/requirements/HEAD?urlpath=lab",
    "build": "[ready",
    "launch": "stopped   the session was shut down",
    "hub": "healthy   yes",
    "status": "2 of 2 members healthy",
    "route": "with rendezvous: ",
    "prime": " ok ",
}


def fenced_blocks(text: str) -> list[tuple[str, str, int]]:
    """(language, body, first line number) of every fenced block of a Markdown text."""
    pattern = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
    return [
        (m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 2)
        for m in pattern.finditer(text)
    ]


@pytest.fixture
def federation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, WireHub]]:
    """Two local members in a member-list file that `$BINDERFED_FEDERATION` names."""
    with (
        WireHub(name="alpha", keepalive_interval=0.05) as alpha,
        WireHub(name="beta", keepalive_interval=0.05, api_only=True) as beta,
    ):
        hubs = {"alpha": alpha, "beta": beta}
        hosts = {
            name: {"url": hub.url, "weight": 50, "prime": name == "alpha"}
            for name, hub in hubs.items()
        }
        path = tmp_path / "federation.json"
        path.write_text(json.dumps({"name": "local", "hosts": hosts}))
        monkeypatch.setenv("BINDERFED_FEDERATION", str(path))
        monkeypatch.setenv("BINDERFED_HUB", alpha.url)
        yield hubs


def python_examples() -> list[CodeExample]:
    return list(find_examples(README))


def test_readme_python_examples_run_against_local_servers(
    eval_example: EvalExample,
    federation: dict[str, WireHub],
    jupyter_server: JupyterServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pytest-examples runs each block as `__main__` and leaves it in sys.modules: put it back
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    examples = python_examples()
    heads = [example.source.splitlines()[0] for example in examples]
    assert heads == [
        "import binderfed_sdk as bf",
        "with bf.Federation() as fed:  # mybinder.org's members, shipped as data",
        "from binderfed_sdk import read_session_info",
    ]
    use_it, federations, inside = examples
    # the same rules as the project's code; a block that goes on from another one may use its
    # names (F821), and prints are what examples are for (T201)
    eval_example.set_config(line_length=100, ruff_ignore=["F821", "T201"])
    for example in examples:
        eval_example.lint(example)

    with WireHub(name="member", keepalive_interval=0.05) as hub:
        hub.jupyter_url, hub.jupyter_token = jupyter_server.url, jupyter_server.token
        member = {"url": hub.url, "weight": 50, "prime": True}
        members = load_federation({"name": "front-door", "hosts": {"member": member}})
        with Redirector(members, check_period=60) as front_door:
            assert front_door.wait_checked()
            assert PUBLIC_HUB in use_it.source
            use_it.source = use_it.source.replace(PUBLIC_HUB, f'BinderHub("{front_door.url}")')
            names = eval_example.run(use_it)
            out = capsys.readouterr().out
        # `build` (without build_only BinderHub launches too), `launch`: both through the
        # front door's 307, both served by its member, which the session names
        assert hub.launch_count == 2
        assert front_door.redirects == {("member", "random"): 1, ("member", "cookie"): 1}
        assert (names["session"].hub, names["session"].front_door) == (hub.url, front_door.url)
    assert "https://mybinder.org/v2/gh/binder-examples/requirements/HEAD?urlpath=lab" in out
    assert "[![Binder](https://mybinder.org/badge_logo.svg)]" in out
    assert "True " in out  # hub.health().ok
    assert "ready " in out  # the build's last event
    assert f"{jupyter_server.url} 0" in out  # the session's URL, no kernel running
    assert "{'text/plain': '42'}" in out  # a kernel in the session ran the code
    assert jupyter_server.token not in out  # the session's repr and URL never show it
    assert jupyter_server.process.wait(30) == 0  # leaving `with` shut the session down

    names = eval_example.run(federations, module_globals=names)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "['alpha', 'beta']"  # both healthy
    assert sorted(json.loads(lines[1].replace("'", '"'))) == ["alpha", "beta"]
    assert names["session"].member in federation
    assert sum(hub.launch_count for hub in federation.values()) >= 2  # the launch, the prime

    outside = eval_example.run(inside)
    assert outside["info"].in_binder is False
    assert outside["info"].reason
    capsys.readouterr()
    monkeypatch.delenv("BINDERFED_FEDERATION")  # a mybinder.org session: its members, its registry
    for name, value in SESSION_ENV.items():
        monkeypatch.setenv(name, value)
    binder = eval_example.run(inside)
    assert binder["info"].in_binder is True
    assert capsys.readouterr().out.startswith("hetzner-gesis ")


def shell_commands() -> list[tuple[int, str]]:
    """(README line, command) of every command line of every shell block but the first."""
    blocks = [b for b in fenced_blocks(README.read_text()) if b[0] in SHELL_LANGUAGES]
    commands = []
    for _, body, first_line in blocks[1:]:
        for offset, line in enumerate(body.splitlines()):
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append((first_line + offset, line))
    return commands


def test_readme_shell_examples_run_against_local_servers(
    federation: dict[str, WireHub],
) -> None:
    commands = shell_commands()
    assert [line.split()[1] for _, line in commands] == list(EXPECTED_OUTPUT)
    env: dict[str, Any] = {
        **os.environ,
        # the `binderfed` installed next to this Python, whatever PATH the suite was started with
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for number, command in commands:
        result = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=60,
            check=False,
        )  # fmt: skip
        where = f"README.md:{number}: {command}\n{result.stdout}{result.stderr}"
        assert result.returncode == 0, where
        assert EXPECTED_OUTPUT[command.split()[1]] in result.stdout + result.stderr, where
        tokens = [token for hub in federation.values() for token in hub.tokens]
        assert not [token for token in tokens if token in result.stdout + result.stderr], where
    assert federation["alpha"].launch_count >= 1
    assert federation["beta"].build_count >= 1  # primed too


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` takes the README's second command (the first block's second line) as its test
    command: read it the way `.ci/run` does and compare."""
    script = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^test_command=\$\((awk .*README\.md)\)$", script, re.MULTILINE)
    assert match, "the way .ci/run reads the test command changed; update this test"
    read = subprocess.run(
        ["bash", "-c", match.group(1)], cwd=ROOT, capture_output=True, text=True, timeout=10,
        check=True,
    ).stdout.strip()  # fmt: skip
    language, body, _ = fenced_blocks(README.read_text())[0]
    assert language == "sh"
    install, test_command = body.splitlines()
    assert read == test_command == "bash .ci/install && python -m pytest"
    assert "binderfed sandbox demo" in install
