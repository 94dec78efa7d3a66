"""The JupyterLab extension in a real browser: a real JupyterLab in a Binder-like environment,
Debian's Chromium (headless) driven by Playwright.

- the status-bar item shows member, time left and memory (`binderfed_jupyter`'s endpoint);
  clicking it shows the details and the button copying the persistent link;
- a notebook cell `SessionStatus()` renders the ipywidgets widget.

Screenshots go to test-output/browser/ (statusbar.png, popup.png, widget.png).
Chromium, Playwright and the built extension are required: their absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import TYPE_CHECKING

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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    require_labextension()
    root = tmp_path_factory.mktemp("lab")
    env = binder_environment()
    # this machine's cgroup is not a session's: no CPU-time budget (see the helper)
    env["BINDERFED_FEDERATION"] = str(federation_without_cpu_budget(root))
    server = JupyterLab(root, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
    assert popup.locator("button.bf-SessionPopup-copy").is_visible()
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
