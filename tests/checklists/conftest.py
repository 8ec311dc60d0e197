"""Fixtures of the browser tests (the panel in Debian's Chromium inside the simulated Jira issue page)."""

import os
import shutil
from pathlib import Path

import pytest

from devhost.browser import CHROMIUM, launch

# axe-core comes from the npm registry as a pinned devDependency of forge/ (make test's forge-ui target runs npm ci).
AXE = Path(__file__).resolve().parents[2] / "forge" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    # Playwright's sync API keeps an event loop on this thread, and the tests read the database from it too.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = launch(p)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def jira(live_server, standin, settings):
    settings.BASE_URL = live_server.url
    settings.EXTRA_FRAME_ANCESTORS = [standin.base_url]
    settings.ATLASSIAN_ALL_JS_URL = f"{standin.base_url}/all.js"
    response = standin.install(live_server.url)
    assert response.status_code == 204, response.text
    return standin


@pytest.fixture
def page(browser, jira):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US")  # dates as "Dec 1, 2026"
    context.set_default_timeout(90_000)  # every wait_for, click and goto: generous, for a loaded machine
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{jira.base_url}/browse/DEMO-1")
    yield page
    context.close()


def panel(page):
    return page.frame_locator("#herochecklist-panel")


def add(frame, *items):
    box = frame.get_by_label("New checklist item")
    for text in items:
        count = frame.locator(".hc-item").count()
        box.fill(text)
        box.press("Enter")
        frame.locator(".hc-item").nth(count).wait_for()


def ticked(frame, text):
    """The status of the item `text` once the panel shows it done as the server answered it (a click checks the box
    itself at once, before any answer: the status control only follows the stored state)."""
    return frame.get_by_label(f"Status of {text}: Done", exact=True)


def tick(frame, text):
    """Ticks the item `text` and waits for the server's answer to show it done: a click, then that state, rather than
    Playwright's check(), which reads the box right after the click and fails when the panel redraws in between."""
    frame.get_by_label(f"{text} done").click()
    ticked(frame, text).wait_for()


def serious_violations(frame) -> list[dict]:
    """axe-core's serious and critical findings in `frame` (a Frame, not a FrameLocator) as it is now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make forge-ui` (npm ci in forge/) installs axe-core")
    # evaluate, not a <script> tag: the panel's Content-Security-Policy would refuse an injected inline script.
    if frame.evaluate("typeof axe === 'undefined'"):
        frame.evaluate(AXE.read_text())
    found = frame.evaluate(
        """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
            .map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")) }))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]
