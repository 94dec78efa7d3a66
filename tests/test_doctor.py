"""`binderfed doctor`: real git repositories made here, each with one problem planted; what the
doctor reports, what `--fix` rewrites (byte for byte everything else), and a clean second run."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

from binderfed_sdk.cli._doctor import add_doctor_parser, run_doctor
from binderfed_sdk.doctor import check_url, diagnose, planned_changes
from binderfed_sdk.doctor._find import find_urls
from binderfed_sdk.doctor._links import check_link, file_in_urlpath
from binderfed_sdk.doctor._notebook import markdown_spans
from binderfed_sdk.doctor._repo2docker import detect_configuration
from binderfed_sdk.spec import BADGE_FORMATS, parse

if TYPE_CHECKING:
    from pathlib import Path

REMOTE = "https://github.com/example/demo.git"
GOOD = "https://mybinder.org/v2/gh/example/demo/HEAD"
BADGE = "https://mybinder.org/badge_logo.svg"


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout


def make_repo(root: Path, files: dict[str, bytes | str], *, commit: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", REMOTE)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "content")
    return root


def doctor(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="binderfed")
    add_doctor_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["doctor", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_doctor(args, out, err)
    return code, out.getvalue(), err.getvalue()


def report_json(root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = doctor(str(root), "--json", *extra)
    return code, json.loads(out)


def codes(data: dict[str, Any]) -> list[str]:
    return [f["code"] for f in data["findings"]]


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def fix_then_clean(root: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """`--check` writes nothing and exits 1; `--fix` rewrites; a second run is clean."""
    before = snapshot(root)
    code, _ = report_json(root, "--check")
    assert code == 1
    assert snapshot(root) == before
    doctor(str(root), "--fix")
    after = snapshot(root)
    assert after != before
    code, data = report_json(root)
    assert code == 0, data["findings"]
    assert [f for f in data["findings"] if f["fixable"] or f["severity"] == "error"] == []
    code, _ = report_json(root, "--check")
    assert code == 0
    return before, after


# --- planted problems ----------------------------------------------------------------------------


def test_no_environment_file_is_an_error_and_fix_adds_one(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"README.md": f"[![Binder]({BADGE})]({GOOD})\n"})
    code, data = report_json(root)
    assert code == 1
    assert codes(data) == ["no-environment"]
    assert data["configuration"]["buildpack"] is None
    before, after = fix_then_clean(root)
    assert set(after) - set(before) == {"requirements.txt"}
    assert after["README.md"] == before["README.md"]
    _, data = report_json(root)
    assert data["configuration"] == {
        "binder_dir": "",
        "buildpack": "python",
        "selected_by": "requirements.txt",
    }


def test_files_shadowed_by_the_binder_folder(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r",
        {
            "requirements.txt": "numpy\n",
            "apt.txt": "curl\n",
            "binder/environment.yml": "dependencies: [python=3.12]\n",
            "README.md": "no links\n",
        },
    )
    code, data = report_json(root)
    assert code == 0  # warnings do not fail: the build works, with binder/'s environment
    shadowed = [f for f in data["findings"] if f["code"] == "shadowed"]
    assert [f["path"] for f in shadowed] == ["apt.txt", "requirements.txt"]
    assert all(f["severity"] == "warning" and "binder/" in f["message"] for f in shadowed)
    assert data["configuration"]["binder_dir"] == "binder"
    assert data["configuration"]["buildpack"] == "conda"


def test_an_empty_binder_folder_hides_the_root_environment(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r", {"requirements.txt": "numpy\n", "binder/postBuild": "echo hi\n"}
    )
    code, data = report_json(root)
    assert code == 1
    assert sorted(codes(data)) == ["no-environment", "not-executable", "shadowed"]
    assert next(f for f in data["findings"] if f["code"] == "no-environment")["path"] == "binder"


def test_badge_to_a_departed_host(tmp_path: Path) -> None:
    readme = (
        "# Demo\r\n\r\n"
        "[![Binder](https://mybinder.org/badge.svg)]"
        "(https://gke.mybinder.org/v2/gh/example/demo/HEAD?urlpath=lab/tree/nb.ipynb)\r\n"
        "Also on [GESIS](https://notebooks.gesis.org/binder/v2/gh/example/demo/HEAD).\r\n"
    )
    root = make_repo(
        tmp_path / "r",
        {
            "README.md": readme,
            "requirements.txt": "",
            "nb.ipynb": nbformat.writes(nbformat.v4.new_notebook()),  # type: ignore[no-untyped-call]
        },
    )
    code, data = report_json(root)
    assert code == 1
    assert codes(data) == ["old-badge", "departed-host", "departed-host"]
    assert [f["line"] for f in data["findings"]] == [3, 3, 4]
    _, after = fix_then_clean(root)
    assert (
        after["README.md"]
        == (
            "# Demo\r\n\r\n"
            f"[![Binder]({BADGE})]"
            "(https://mybinder.org/v2/gh/example/demo/HEAD?urlpath=lab/tree/nb.ipynb)\r\n"
            "Also on [GESIS](https://mybinder.org/v2/gh/example/demo/HEAD).\r\n"
        ).encode()
    )


def test_legacy_repo_link_and_filepath(tmp_path: Path) -> None:
    rst = (
        ".. image:: https://mybinder.org/badge_logo.svg\n"
        "   :target: https://mybinder.org/repo/example/demo\n\n"
        "`Open <https://mybinder.org/v2/gh/example/demo/main?filepath=docs/intro.ipynb>`_\n"
    )
    root = make_repo(
        tmp_path / "r",
        {"docs/index.rst": rst, "docs/intro.ipynb": "{}", "environment.yml": "name: x\n"},
    )
    code, data = report_json(root)
    assert code == 0  # still working, legacy forms: warnings
    assert codes(data) == ["legacy-repo-link", "legacy-filepath"]
    _, after = fix_then_clean(root)
    assert after["docs/index.rst"] == (
        b".. image:: https://mybinder.org/badge_logo.svg\n"
        b"   :target: https://mybinder.org/v2/gh/example/demo/master\n\n"
        b"`Open <https://mybinder.org/v2/gh/example/demo/main?urlpath=tree/docs/intro.ipynb>`_\n"
    )


def test_urlpath_to_a_missing_file(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r",
        {
            "requirements.txt": "",
            "nb.ipynb": "{}",
            "README.md": (
                f"[ok]({GOOD}?urlpath=lab/tree/nb.ipynb)\n"
                f"[gone]({GOOD}?urlpath=lab/tree/gone.ipynb)\n"
                "[other repo](https://mybinder.org/v2/gh/someone/else/HEAD?urlpath=lab/tree/x.ipynb)\n"
            ),
        },
    )
    code, data = report_json(root)
    assert code == 1
    assert [(f["code"], f["line"]) for f in data["findings"]] == [("missing-target", 2)]
    assert "'gone.ipynb'" in data["findings"][0]["message"]
    # the working tree counts for HEAD: adding the file (not yet committed) clears it
    (root / "gone.ipynb").write_text("{}")
    assert report_json(root) == (0, report_json(root)[1])
    code, data = report_json(root)
    assert (code, codes(data)) == (0, [])


def test_urlpath_at_another_ref_is_read_from_git(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"requirements.txt": "", "README.md": "x\n"})
    git(root, "tag", "v1")
    (root / "new.ipynb").write_text("{}")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "new")
    (root / "README.md").write_text(
        "[v1](https://mybinder.org/v2/gh/example/demo/v1?labpath=new.ipynb)\n"
        "[main](https://mybinder.org/v2/gh/example/demo/main?labpath=new.ipynb)\n"
        "[unknown](https://mybinder.org/v2/gh/example/demo/nobranch?labpath=new.ipynb)\n"
    )
    code, data = report_json(root)
    assert code == 1
    assert [(f["code"], f["line"]) for f in data["findings"]] == [
        ("missing-target", 1),
        ("target-not-checked", 3),
    ]


def test_notebook_markdown_cell_link_is_fixed_in_place(tmp_path: Path) -> None:
    bad = "https://turing.mybinder.org/v2/gh/example/demo/HEAD?filepath=nb.ipynb"
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    markdown = f"# Title\n\nLaunch: [binder]({bad}) or else."
    nb.cells = [
        nbformat.v4.new_markdown_cell(markdown),  # type: ignore[no-untyped-call]
        # code is not checked, nor changed
        nbformat.v4.new_code_cell(f'url = "{bad}"'),  # type: ignore[no-untyped-call]
    ]
    text = nbformat.writes(nb)  # type: ignore[no-untyped-call]
    root = make_repo(tmp_path / "r", {"nb.ipynb": text, "requirements.txt": ""})
    code, data = report_json(root)
    assert code == 1
    assert codes(data) == ["departed-host", "legacy-filepath"]
    assert data["findings"][0]["line"] == 1 + text[: text.index(bad)].count("\n")
    assert "(cell 1)" in data["findings"][0]["message"]
    _, after = fix_then_clean(root)
    new = "https://mybinder.org/v2/gh/example/demo/HEAD?urlpath=tree/nb.ipynb"
    assert after["nb.ipynb"] == text.replace(bad, new, 1).encode()
    fixed = nbformat.reads(after["nb.ipynb"].decode(), as_version=4)  # type: ignore[no-untyped-call]
    assert new in fixed.cells[0].source
    assert bad in fixed.cells[1].source


def test_files_without_problems_stay_byte_identical(tmp_path: Path) -> None:
    clean = {
        "README.md": f"[![Binder]({BADGE})]({GOOD})\r\nlatin-1: \xe9\r\n".encode("latin-1"),
        "docs/a.rst": b"\xef\xbb\xbfno link\n",
        "docs/b.html": f'<a href="{GOOD}?urlpath=x&amp;y=1"><img src="{BADGE}"></a>'.encode(),
        "requirements.txt": b"",
    }
    broken = "see https://ovh.mybinder.org/v2/gh/example/demo/HEAD\n\tand\r\n\xff\xfe end\n"
    root = make_repo(tmp_path / "r", {**clean, "docs/c.md": broken.encode("latin-1")})
    before, after = fix_then_clean(root)
    for name, content in clean.items():
        assert after[name] == content
    old = b"https://ovh.mybinder.org/v2/gh/example/demo/HEAD"
    assert after["docs/c.md"] == before["docs/c.md"].replace(old, GOOD.encode())


def test_html_links_keep_their_entities(tmp_path: Path) -> None:
    page = '<a href="https://gke.mybinder.org/v2/gh/example/demo/HEAD?urlpath=lab&amp;x=1">b</a>\n'
    root = make_repo(tmp_path / "r", {"index.html": page, "requirements.txt": ""})
    _, after = fix_then_clean(root)
    assert after["index.html"] == (
        b'<a href="https://mybinder.org/v2/gh/example/demo/HEAD?urlpath=lab&amp;x=1">b</a>\n'
    )


def test_files_given_as_arguments_like_a_pre_commit_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(
        tmp_path / "r",
        {
            "a.md": "https://gke.mybinder.org/v2/gh/example/demo/HEAD\n",
            "b.md": "https://ovh.mybinder.org/v2/gh/example/demo/HEAD\n",
        },
    )
    monkeypatch.chdir(root)
    code, out, _ = doctor("--check", "a.md")
    assert code == 1
    assert "a.md:1: error:" in out
    assert "b.md" not in out
    assert "no-environment" not in out  # no configuration file among those given
    code, _, err = doctor("a.md", "nope.md")
    assert code == 2
    assert "not a file: nope.md" in err
    (root / "requirements.txt").write_text("")
    code, out, _ = doctor("requirements.txt")
    assert code == 0
    assert "0 errors" in out


def test_text_output_lines(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r", {"README.md": "https://gke.mybinder.org/v2/gh/a/b/HEAD\x1b[31m\n"}
    )
    code, out, _ = doctor(str(root))
    assert code == 1
    assert "README.md:1: error: gke.mybinder.org left the mybinder.org federation" in out
    assert "    fixable: https://mybinder.org/v2/gh/a/b/HEAD" in out
    assert "\x1b" not in out
    assert out.splitlines()[-1].startswith("doctor: 1 files, 1 Binder links checked: 2 errors")


# --- a URL by itself -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "exit_code", "code", "fix"),
    [
        (GOOD, 0, None, None),
        ("https://gke.mybinder.org/v2/gh/a/b/HEAD", 1, "departed-host", "https://mybinder.org/v2/gh/a/b/HEAD"),
        ("https://mybinder.org/repo/a/b/nb.ipynb", 0, "legacy-repo-link", "https://mybinder.org/v2/gh/a/b/master?urlpath=nb.ipynb"),
        ("https://mybinder.org/build/gh/a/b/HEAD", 0, "build-link", "https://mybinder.org/v2/gh/a/b/HEAD"),
        ("http://mybinder.org/v2/gh/a/b/HEAD", 0, "plain-http", "https://mybinder.org/v2/gh/a/b/HEAD"),
        ("https://mybinder.org/v2/gh/a/b", 1, "invalid-link", None),
        ("https://example.org/page", 1, "not-a-binder-link", None),
    ],
)  # fmt: skip
def test_a_link_by_itself(url: str, exit_code: int, code: str | None, fix: str | None) -> None:
    got, out, _ = doctor(url, "--json")
    assert got == exit_code
    findings = json.loads(out)["findings"]
    if code is None:
        assert findings == []
        return
    assert findings[0]["code"] == code
    if fix is not None:
        assert findings[0]["fix"] == fix
        assert check_url(fix).findings == []


def test_a_member_link_is_a_note() -> None:
    report = check_url("https://gesis.mybinder.org/v2/gh/a/b/HEAD")
    assert [(f.severity, f.code) for f in report.findings] == [("info", "member-host")]
    assert report.errors == []


# --- pure parts ---------------------------------------------------------------------------------


def test_configuration_detection_follows_repo2docker() -> None:
    def detect(files: dict[str, str], *, package: bool = False) -> Any:
        folders = {p.rsplit("/", 1)[0] for p in files if "/" in p}
        return detect_configuration(
            set(files), folders, files.__getitem__, python_package=lambda: package
        )

    assert detect({"README.md": ""}).buildpack is None
    assert detect({"setup.py": ""}, package=True).buildpack == "python"
    assert detect({"binder/apt.txt": "", "setup.py": ""}, package=True).buildpack is None
    assert detect({"Dockerfile": "", "environment.yml": ""}).buildpack == "docker"
    assert detect({"runtime.txt": "python-3.12"}).selected_by == "runtime.txt"
    assert detect({"runtime.txt": "r-2024-01-01", "requirements.txt": ""}).buildpack == "r"
    assert detect({"runtime.txt": "julia-1.9"}).runtime_error is not None
    bad = detect({"runtime.txt": "python", "requirements.txt": ""})
    assert bad.runtime_error == "Invalid runtime.txt: python"
    assert detect({"binder/x": "", ".binder/y": ""}).error is not None
    assert detect({".binder/environment.yml": ""}).selected_by == ".binder/environment.yml"


def test_invalid_runtime_is_an_error(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"runtime.txt": "python3.12\n", "requirements.txt": ""})
    code, data = report_json(root)
    assert code == 1
    assert [(f["code"], f["path"]) for f in data["findings"]] == [
        ("invalid-runtime", "runtime.txt")
    ]


def test_urlpath_files() -> None:
    assert file_in_urlpath("lab/tree/a/b.ipynb") == "a/b.ipynb"
    assert file_in_urlpath("/doc/tree/x.md") == "x.md"
    assert file_in_urlpath("voila/render/app.ipynb") == "app.ipynb"
    assert file_in_urlpath("tree/data/") == "data"
    assert file_in_urlpath("rstudio") is None
    assert file_in_urlpath("lab") is None


def test_links_on_other_sites_are_not_judged() -> None:
    assert check_link("https://github.com/org/repo/build/x") is None
    assert check_link("https://example.org/repo/a") is None
    # another BinderHub's valid link is fine, an invalid one on mybinder.org is not
    other = check_link("https://binder.example.org/v2/gh/a/b/HEAD")
    assert other is not None
    assert other.problems == ()
    assert other.fixed is None
    broken = check_link("https://mybinder.org/v2/nope/x")
    assert broken is not None
    assert broken.problems[0].code == "invalid-link"


def test_finding_urls_in_documents() -> None:
    text = "a <https://mybinder.org/v2/gh/a/b/HEAD>, `x <https://mybinder.org/v2/gh/c/d/HEAD>`_.\n"
    assert [f.url for f in find_urls("x.rst", text)] == [
        "https://mybinder.org/v2/gh/a/b/HEAD",
        "https://mybinder.org/v2/gh/c/d/HEAD",
    ]
    assert find_urls("x.md", "no binder here https://example.org\n") == []


def test_notebook_spans_only_markdown_sources() -> None:
    text = json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "source": ["x = '[a](b)'"],
                    "outputs": [{"a": [1, 2.5e3, None]}],
                },
                {"cell_type": "markdown", "metadata": {}, "source": 'one \\ "two"'},
                {"source": ["l1\n", "l2"], "cell_type": "markdown"},
            ],
            "metadata": {},
        },
        indent=1,
    )
    spans = markdown_spans(text)
    assert [(cell, json.loads(f'"{text[s:e]}"')) for cell, s, e in spans] == [
        (2, 'one \\ "two"'),
        (3, "l1\n"),
        (3, "l2"),
    ]
    with pytest.raises(ValueError, match="not a notebook"):
        markdown_spans('{"cells": [')


def test_planned_changes_skip_files_changed_since(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "r",
        {"a.md": "https://gke.mybinder.org/v2/gh/a/b/HEAD\n", "requirements.txt": ""},
    )
    report = diagnose(root)
    (root / "a.md").write_text("rewritten meanwhile: https://gke.mybinder.org/v2/gh/a/b/HEAD\n")
    assert planned_changes(report) == []


def test_link_myst_badge() -> None:
    assert "myst" in BADGE_FORMATS
    badge = parse("gh/a/b/HEAD").badge("myst", urlpath="lab/tree/x.ipynb")
    assert badge == (
        "```{image} https://mybinder.org/badge_logo.svg\n"
        ":alt: Launch Binder\n"
        ":target: https://mybinder.org/v2/gh/a/b/HEAD?urlpath=lab/tree/x.ipynb\n"
        "```"
    )
