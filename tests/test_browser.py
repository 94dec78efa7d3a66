"""The JupyterLab extension in a real browser: a real JupyterLab in a Binder-like environment,
Debian's Chromium (headless) driven by Playwright.

- the status-bar item shows member, time left and memory (`binderfed_jupyter`'s endpoint);
  clicking it shows the details and the relaunch links, each with its copy button;
- "Download my work" (JupyterLab and Notebook 7, whose top bar holds the item): from the
  popup (an unsaved notebook saved first, the zip's contents checked), from the cull warning
  and from the command palette; over the server's bound, its message in the popup;
- the memory chart in the popup: an image whose data URL is the server's SVG;
- a notebook cell `SessionStatus()` renders the ipywidgets widget.

Screenshots go to test-output/browser/ (statusbar.png, popup.png, popup-work-*.png,
warning-*.png, widget.png, ...).
Chromium, Playwright and the built extension are required: their absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import pytest
from browser_support import (
    CHROMIUM_ARGS,
    MEMBER,
    REPO_URL,
    JupyterLab,
    binder_environment,
    federation_without_cpu_budget,
    free_port,
    one_cell_notebook,
    output_dir,
    require_chromium,
    require_labextension,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from playwright.sync_api import Browser, Page

#: status text such as `gesis · 11 min 40 s left if nothing runs · 614 MiB / 2.0 GiB`
TIME_LEFT = re.compile(r"(\d+ h \d\d min|\d+ min( \d\d s)?|\d+ s) left")
MEMORY = re.compile(r"\d+(\.\d)?( [KMG]iB)? / \d+(\.\d)? [KMG]iB")
ITEM = "#jp-main-statusbar .bf-SessionStatus"
#: the item wherever the front end puts it (Notebook 7 has no status bar: its top bar)
ANY_ITEM = ".bf-SessionStatus"
DOWNLOAD = "Download my work"
ZIP_NAME = re.compile(r"binder-work-\d{8}-\d{6}\.zip")
#: the test servers' settings: a session age limit of 10 min 05 s, so that the first cull
#: warning (10 min before the stop) is due 5 s after the server started, and a 1 MiB download
#: bound, cheap to go over. Not a short idle timeout: a threshold at or above the limit's
#: whole length is left out (it would always be on), and the idle time left never falls
#: by much while JupyterLab's own requests count as activity; the age only grows.
WORK_LIMIT = 1 << 20
WORK_CONFIG: dict[str, Any] = {
    "BinderFedApp": {"limits": {"max_age": 605}, "download_max_bytes": WORK_LIMIT}
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    require_labextension()
    root = tmp_path_factory.mktemp("lab")
    env = binder_environment()
    # this machine's cgroup is not a session's: no CPU-time budget (see the helper)
    env["BINDERFED_FEDERATION"] = str(federation_without_cpu_budget(root))
    server = JupyterLab(root, env, server_config=WORK_CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    require_labextension()
    root = tmp_path_factory.mktemp("notebook7")
    server = JupyterLab(root, binder_env(root), app="notebook", server_config=WORK_CONFIG)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["jupyterlab", "notebook7"])
def front_end(request: pytest.FixtureRequest) -> tuple[str, JupyterLab]:
    """JupyterLab, then Notebook 7: each its own server, with the same settings."""
    name: str = request.param
    server: JupyterLab = request.getfixturevalue("lab" if name == "jupyterlab" else name)
    return name, server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_chromium()
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        pytest.fail(
            "Python Playwright is missing: `pip install playwright` "
            "(and no `playwright install`: the test uses Debian's Chromium)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, lab: JupyterLab) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(lab.lab_url, wait_until="domcontentloaded", timeout=30_000)
        page.wait_for_selector("#jp-main-statusbar", timeout=30_000)
        yield page
    finally:
        context.close()
    assert not [e for e in errors if "binderfed" in e], errors


def session_answer(lab: JupyterLab) -> dict[str, object]:
    """The server extension's answer, or a failure saying what is wrong with it."""
    status, body = lab.get_json("binderfed/session")
    if status != 200 or not isinstance(body, dict):
        pytest.fail(
            f"GET binderfed/session answered {status}: is the server extension "
            f"binderfed_jupyter enabled? {str(body)[:300]}\n{lab.log_tail(1500)}",
            pytrace=False,
        )
    return body


def test_status_bar_item_shows_member_time_and_memory(lab: JupyterLab, page: Page) -> None:
    answer = session_answer(lab)
    assert answer["in_binder"] is True, answer
    member = answer["member"]
    assert isinstance(member, str), answer
    assert member in MEMBER  # hetzner-gesis, or the member name it maps to

    item = page.locator(ITEM)
    item.wait_for(state="visible", timeout=20_000)
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.textContent ?? '').includes(' left')",
        arg=ITEM,
        timeout=20_000,
    )
    text = item.inner_text()
    assert member in text, text
    assert MEMORY.search(text), text
    assert TIME_LEFT.search(text), text
    # the words are the server extension's (binderfed_sdk._format): the answer's summary,
    # but for the time left, counted down since
    display = answer["display"]
    assert isinstance(display, dict), answer
    summary = str(display["summary"])
    assert TIME_LEFT.sub("", text) == TIME_LEFT.sub("", summary), (text, summary)
    assert item.get_attribute("data-level") in {"ok", "warning", "danger"}
    title = item.get_attribute("title") or ""
    assert REPO_URL in title, title
    assert "Time left: " in title, title

    out = output_dir()
    page.screenshot(path=str(out / "statusbar.png"))
    item.screenshot(path=str(out / "statusbar-item.png"))

    # the popup: details and the button copying the persistent link
    item.click()
    popup = page.locator(".bf-SessionPopup")
    popup.wait_for(state="visible", timeout=10_000)
    details = popup.inner_text()
    assert REPO_URL in details, details
    assert member in details, details
    link = answer["persistent_link"]
    assert isinstance(link, str), answer
    assert link in details, details
    # the relaunch links, as the answer gives them: an anchor and a copy button each
    links = display.get("links")
    assert isinstance(links, list), display
    assert links, display
    rows = popup.locator(".bf-SessionPopup-relaunch")
    assert rows.count() == len(links)
    for index, expected in enumerate(links):
        row = rows.nth(index)
        anchor = row.locator("a")
        assert anchor.inner_text() == expected["label"]
        assert anchor.get_attribute("href") == expected["url"]
        assert expected["url"].startswith(("https://", "http://"))
        assert row.locator("button.bf-SessionPopup-copy").is_visible()
    labels = [str(expected["label"]) for expected in links]
    assert labels[0] == "Open this exact commit again", labels
    page.screenshot(path=str(out / "popup.png"))


def test_session_widget_renders_in_a_notebook(lab: JupyterLab, page: Page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    answer = session_answer(lab)
    member = str(answer["member"])

    page.wait_for_function("() => window.jupyterapp?.commands !== undefined", timeout=30_000)
    page.evaluate(
        "() => window.jupyterapp.commands.execute('notebook:create-new', {kernelName: 'python3'})"
    )
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").first
    cell.wait_for(state="visible", timeout=20_000)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=30_000,
    )
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.type("from binderfed_sdk.widget import SessionStatus; SessionStatus()")
    page.keyboard.press("Shift+Enter")

    output = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output").first
    output.wait_for(state="visible", timeout=30_000)
    try:
        page.wait_for_function(
            "([member]) => [...document.querySelectorAll('.jp-OutputArea-output')]"
            ".some(el => el.textContent.includes(member) && el.querySelector('.widget-html'))",
            arg=[member],
            timeout=30_000,
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(output_dir() / "widget-failed.png"))
        pytest.fail(f"the widget did not render; the output area reads:\n{output.inner_text()}")
    text = output.inner_text()
    assert member in text, text
    assert "Error" not in text, text
    page.screenshot(path=str(output_dir() / "widget.png"))


# --- the widget in the other front ends: Notebook 7 and Voila ---------------------------------


def widget_notebook(folder: Path) -> Path:
    """A notebook whose one cell shows the widget."""
    cell: dict[str, object] = {
        "cell_type": "code",
        "id": "status",
        "metadata": {},
        "execution_count": None,
        "outputs": [],
        "source": ["from binderfed_sdk.widget import SessionStatus\n", "SessionStatus()"],
    }
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "cells": [cell],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "status.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def wait_for_widget(page: Page, member: str, name: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415

    try:
        page.wait_for_function(
            "([member]) => [...document.querySelectorAll('.widget-html')]"
            ".some(el => el.textContent.includes(member))",
            arg=[member],
            timeout=60_000,
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(output_dir() / f"{name}-failed.png"))
        pytest.fail(f"the widget did not render in {name}:\n{page.inner_text('body')[:1500]}")
    page.screenshot(path=str(output_dir() / f"{name}.png"))


def binder_env(folder: Path) -> dict[str, str]:
    env = binder_environment()
    env["BINDERFED_FEDERATION"] = str(federation_without_cpu_budget(folder))
    return env


def test_widget_renders_in_notebook_7(tmp_path: Path, browser: Browser) -> None:
    widget_notebook(tmp_path / "notebooks")
    server = JupyterLab(tmp_path, binder_env(tmp_path), app="notebook")
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(f"{server.url}notebooks/status.ipynb?token={server.token}", timeout=30_000)
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
            "?.status === 'idle'",
            timeout=45_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        wait_for_widget(page, MEMBER, "notebook7")
    finally:
        context.close()
        server.stop()


def test_widget_renders_in_voila(tmp_path: Path, browser: Browser) -> None:
    notebook = widget_notebook(tmp_path / "notebooks")
    port = free_port()
    log = (tmp_path / "voila.log").open("wb")
    env = {
        **os.environ,
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        **binder_env(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=notebook.parent,
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert process.poll() is None, (tmp_path / "voila.log").read_text()[-2000:]
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
        wait_for_widget(page, MEMBER, "voila")
    finally:
        context.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


# --- Download my work, the memory chart, the cull warning: JupyterLab and Notebook 7 ---------


#: records the commands the application runs from its very start (`window.__executed`)
RECORD_COMMANDS = """
(() => {
  let app;
  window.__executed = [];
  Object.defineProperty(window, 'jupyterapp', {
    configurable: true,
    get: () => app,
    set: value => {
      app = value;
      value.commands.commandExecuted.connect((_, args) => window.__executed.push(args.id));
    }
  });
})();
"""


@contextmanager
def opened(
    browser: Browser, server: JupyterLab, path: str, init_script: str | None = None
) -> Iterator[Page]:
    """A page of `server` at `path` (with the token), once the application is up."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    if init_script is not None:
        page.add_init_script(init_script)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}{path}?token={server.token}", timeout=30_000)
        page.wait_for_function("() => window.jupyterapp?.commands !== undefined", timeout=30_000)
        yield page
    finally:
        context.close()
    assert not [e for e in errors if "binderfed" in e], errors


def open_popup(page: Page) -> Any:
    """Click the item (once it shows the session) and wait for its popup."""
    item = page.locator(ANY_ITEM)
    item.wait_for(state="visible", timeout=30_000)
    page.wait_for_function(
        "sel => (document.querySelector(sel)?.textContent ?? '').includes(' left')",
        arg=ANY_ITEM,
        timeout=30_000,
    )
    item.click()
    popup = page.locator(".bf-SessionPopup")
    popup.wait_for(state="visible", timeout=10_000)
    return popup


def wait_for_text(page: Page, selector: str, text: str, timeout: float = 20_000) -> None:
    """Wait until the element at `selector` holds `text` (the popup fills itself in)."""
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.textContent ?? '').includes(text)",
        arg=[selector, text],
        timeout=timeout,
    )


def zip_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def type_without_saving(page: Page, notebook_path: str, text: str) -> None:
    """Type `text` at the end of the first cell of the notebook in front, unsaved."""
    # JupyterLab may restore other notebooks of its workspace: this one in front first
    page.wait_for_function(
        "path => window.jupyterapp.shell.currentWidget?.context?.path === path",
        arg=notebook_path,
        timeout=30_000,
    )
    editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell .cm-content")
    editor.first.wait_for(state="visible", timeout=30_000)
    editor.first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)
    page.wait_for_function(
        "path => window.jupyterapp.shell.currentWidget?.context?.path === path"
        " && window.jupyterapp.shell.currentWidget.context.model.dirty === true",
        arg=notebook_path,
        timeout=10_000,
    )


def check_memory_chart(page: Page, popup: Any) -> None:
    """The memory chart: an image, its data URL the server's SVG with the used line."""
    image = popup.locator(".bf-SessionPopup-chart img")
    image.wait_for(state="visible", timeout=20_000)
    page.wait_for_function(
        "() => document.querySelector('.bf-SessionPopup-chart img')?.naturalWidth > 0",
        timeout=10_000,
    )
    source = image.get_attribute("src") or ""
    prefix = "data:image/svg+xml;charset=utf-8,"
    assert source.startswith(prefix), source[:80]
    svg = unquote(source[len(prefix) :])
    assert svg.startswith("<svg "), svg
    assert svg.endswith("</svg>"), svg
    # the used line, with at least one sample, and the limit's line (MEM_LIMIT)
    assert re.search(r'<polyline class="used" points="\d+\.\d,\d+\.\d', svg), svg
    assert '<line class="limit"' in svg, svg
    assert "now " in svg, svg  # the last sample's label
    assert page.locator(".bf-SessionPopup svg").count() == 0  # never markup in the page


def test_download_my_work_from_the_popup(
    front_end: tuple[str, JupyterLab], browser: Browser, tmp_path: Path
) -> None:
    """A notebook edited but not saved, a file written through the contents API: the popup
    lists the changes, draws the memory chart, and "Download my work" saves the notebook
    first, then downloads both in a zip; with the cookies gone (the token in a header only,
    which a plain link could not send)."""
    app, server = front_end
    folder = f"work-{app}"
    marker = f"typed-not-saved-{secrets.token_hex(4)}"
    server.put_file(f"{folder}/results.csv", "x,y\n1,2\n")
    notebook_path = f"{folder}/analysis.ipynb"
    server.put_file(notebook_path, one_cell_notebook("print('hello')"))
    path = f"{'lab/tree' if app == 'jupyterlab' else 'notebooks'}/{notebook_path}"
    out = output_dir()
    with opened(browser, server, path) as page:
        type_without_saving(page, notebook_path, f"  # {marker}")

        popup = open_popup(page)
        wait_for_text(page, ".bf-SessionPopup-changes", "results.csv")
        summary = popup.locator(".bf-SessionPopup-changesSummary").inner_text()
        assert re.fullmatch(
            r"\d+ files? changed since the session started \(\d+(\.\d)? [KMG]?i?B\)", summary
        ), summary
        sizes = popup.locator(".bf-SessionPopup-fileSize").all_inner_texts()
        assert "8 B" in sizes, sizes  # results.csv, as format_bytes writes it

        check_memory_chart(page, popup)
        page.screenshot(path=str(out / f"popup-work-{app}.png"))
        popup.screenshot(path=str(out / f"memory-chart-{app}.png"))

        # from here on only the token in the request's header authenticates
        page.context.clear_cookies()
        with page.expect_download(timeout=60_000) as info:
            popup.locator("button.bf-SessionPopup-download").click()
        download = info.value
        assert ZIP_NAME.fullmatch(download.suggested_filename), download.suggested_filename
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        wait_for_text(page, ".bf-SessionPopup-status", f"Downloaded {download.suggested_filename}")
        status = popup.locator(".bf-SessionPopup-status").inner_text()
        assert "could not be saved" not in status, status

    entries = zip_entries(saved)
    assert entries[f"{folder}/results.csv"] == b"x,y\n1,2\n", sorted(entries)
    notebook = json.loads(entries[notebook_path])
    cell = notebook["cells"][0]["source"]
    assert marker in ("".join(cell) if isinstance(cell, list) else cell)  # saved first
    assert not [name for name in entries if ".ipynb_checkpoints" in name], sorted(entries)


def test_download_over_the_bound_says_why(lab: JupyterLab, browser: Browser) -> None:
    """Over `download_max_bytes`: the popup says so before, and the download gives the
    server's message (naming the largest file) as text, with nothing downloaded."""
    big = "too-big/huge.txt"
    lab.put_file(big, "a" * (WORK_LIMIT + 1000))
    downloads: list[object] = []

    def seen(download: object) -> None:  # Playwright cannot take a bound builtin
        downloads.append(download)

    try:
        with opened(browser, lab, "lab") as page:
            page.on("download", seen)
            popup = open_popup(page)
            wait_for_text(page, ".bf-SessionPopup-changes .bf-SessionPopup-problem", "huge.txt")
            popup.locator("button.bf-SessionPopup-download").click()
            page.wait_for_function(
                "() => document.querySelector('.bf-SessionPopup-status')?.dataset.state"
                " === 'failed'",
                timeout=30_000,
            )
            status = popup.locator(".bf-SessionPopup-status")
            text = status.inner_text()
            assert "huge.txt" in text, text
            assert status.locator("*").count() == 0  # text only
            status_code, _ = lab.get_json("binderfed/download")
            assert status_code == 413
            page.screenshot(path=str(output_dir() / "popup-too-big.png"))
        assert downloads == []
    finally:
        lab.delete_file(big)


def test_cull_warning_offers_download(
    front_end: tuple[str, JupyterLab], browser: Browser, tmp_path: Path
) -> None:
    """With a session age limit of 10 min 05 s the first warning is due at once: it names the
    cause, offers "Download my work" (which downloads the zip) and the persistent link."""
    app, server = front_end
    name = f"warning-{app}/note.txt"
    server.put_file(name, "keep me")
    with opened(browser, server, "lab" if app == "jupyterlab" else "tree") as page:
        toast = page.locator(".Toastify__toast", has_text="will stop")
        toast.wait_for(state="visible", timeout=45_000)
        # the server's words; JupyterLab cuts a toast's text at 140 characters, which keep
        # when, which limit and what to do
        text = toast.inner_text()
        assert text.startswith("Binder stops this session in about "), text
        assert "(the session age limit): download your work." in text.split("\n")[0], text
        assert toast.get_by_role("button", name="Copy persistent link").is_visible()
        button = toast.get_by_role("button", name=DOWNLOAD)
        page.screenshot(path=str(output_dir() / f"warning-{app}.png"))
        with page.expect_download(timeout=60_000) as info:
            button.click()
        download = info.value
        assert ZIP_NAME.fullmatch(download.suggested_filename)
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        # the warning still holds: it stays until dismissed
        assert toast.is_visible()
    assert zip_entries(saved)[name] == b"keep me"


def test_command_palette_downloads(
    front_end: tuple[str, JupyterLab], browser: Browser, tmp_path: Path
) -> None:
    """The command "Binder: Download my work" is in the palette, and downloads the zip."""
    app, server = front_end
    name = f"palette-{app}/data.txt"
    server.put_file(name, "from the palette")
    # a workspace of its own: JupyterLab opens the launcher in it
    start = f"lab/workspaces/palette-{secrets.token_hex(4)}" if app == "jupyterlab" else "tree"
    with opened(browser, server, start, init_script=RECORD_COMMANDS) as page:
        # the modal palette closes when any command runs: open it after the front end's
        # own start-up command (a launcher; Notebook 7 resolving the tree's path)
        page.wait_for_function(
            "(command) => (window.__executed ?? []).includes(command)",
            arg="launcher:create" if app == "jupyterlab" else "application:resolve-tree",
            timeout=30_000,
        )
        palette = "apputils:activate-command-palette"
        page.wait_for_function(
            "([palette, command]) => window.jupyterapp.commands.hasCommand(palette)"
            " && window.jupyterapp.commands.hasCommand(command)",
            arg=[palette, "binderfed:download-work"],
            timeout=30_000,
        )
        page.evaluate("(palette) => window.jupyterapp.commands.execute(palette)", palette)
        search = page.locator(".lm-CommandPalette-input")
        search.wait_for(state="visible", timeout=10_000)
        search.fill(DOWNLOAD)
        entry = page.locator(".lm-CommandPalette-item", has_text=f"Binder: {DOWNLOAD}")
        entry.wait_for(state="visible", timeout=10_000)
        with page.expect_download(timeout=60_000) as info:
            entry.click()
        saved = tmp_path / info.value.suggested_filename
        info.value.save_as(saved)
    assert zip_entries(saved)[name] == b"from the palette"
