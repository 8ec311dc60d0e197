"""The panel in Jira's light and dark themes and in a 320 px wide panel, in Debian's Chromium inside the simulated
Jira issue page: it follows Jira's theme (not the operating system's), axe-core finds no serious or critical
violation in either theme, nothing overlaps at 320 px, and the README's screenshots are written here."""

from pathlib import Path

import pytest

from tenants.models import Tenant
from tests.checklists.conftest import panel, serious_violations

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"

CHECKLIST = (
    "## Before release\n"
    "- [x] Freeze the `release/2.4` branch\n"
    "- [x] Run the regression suite {@557058:alice due:2026-12-01}\n"
    "- [~] Update the **changelog** for PROJ-12345\n"
    "- [-] Ask design for a [release banner](https://example.com/banner)\n"
    "- [ ] Tag v2.4.0 and push {due:2026-12-02}\n"
    "## After release\n"
    "- [!] Deploy to the EU region {@557058:bob due:2026-12-03}\n"
    "- [ ]? Announce in the #releases channel\n"
)
WHITE, JIRA_DARK_SURFACE = "rgb(255, 255, 255)", "rgb(29, 33, 37)"


def open_issue(browser, jira_url, *, theme=None, os_scheme="light"):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme=os_scheme)
    context.set_default_timeout(90_000)  # generous, as for the other browser tests: a loaded machine is slow
    page = context.new_page()
    page.goto(f"{jira_url}/browse/DEMO-1" + (f"?theme={theme}" if theme else ""))
    panel(page).locator(".hc-item").nth(8).wait_for()
    return context, page, page.locator("#herochecklist-panel").element_handle().content_frame()


@pytest.fixture
def seeded(jira, client):
    """The stand-in Jira's address, with DEMO-1's checklist written through the API."""
    from tests.conftest import Api

    assert Api(client, Tenant.objects.get()).put_text(CHECKLIST).status_code == 200
    return jira.base_url


def background(frame, selector="body") -> str:
    return frame.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor")


def test_light_and_dark_follow_jira_not_the_os_with_no_serious_axe_violation(browser, seeded):
    # The operating system says dark, Jira says light: the panel is light.
    context, page, frame = open_issue(browser, seeded, os_scheme="dark")
    frame.locator('html[data-color-mode="light"]').wait_for(state="attached")
    assert background(frame) == WHITE
    rows = frame.locator(".hc-item")
    assert rows.locator(".hc-text-cell").all_inner_texts() == [
        "Before release",
        "Freeze the release/2.4 branch",
        "Run the regression suite",
        "Update the changelog for PROJ-12345",
        "Ask design for a release banner",
        "Tag v2.4.0 and push",
        "After release",
        "Deploy to the EU region",
        "Announce in the #releases channel",
    ]
    lozenges = [rows.nth(i).locator(".hc-status .hc-lozenge").inner_text() for i in (1, 2, 3, 4, 5, 7, 8)]
    assert lozenges == ["DONE", "DONE", "IN PROGRESS", "SKIPPED", "TO DO", "BLOCKED", "TO DO"]
    assert rows.nth(4).locator("a").get_attribute("href") == "https://example.com/banner"
    assert [rows.nth(i).get_by_role("checkbox", name="Required").is_checked() for i in (5, 8)] == [True, False]
    assert frame.locator(".hc-count").inner_text() == "43% · 3 of 7 done, 3 required open"
    assert serious_violations(frame) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".content").screenshot(path=str(SCREENSHOTS / "panel-light.png"))

    # Switched to dark in Jira, the panel follows at once, without a reload.
    page.get_by_label("Theme").select_option("dark")
    frame.locator('html[data-color-mode="dark"]').wait_for(state="attached")
    assert frame.locator("html").get_attribute("data-theme").startswith("dark:dark")
    assert background(frame) == JIRA_DARK_SURFACE
    done = frame.locator(".hc-item").nth(1).locator(".hc-lozenge")
    assert done.evaluate("e => getComputedStyle(e).color") == "rgb(126, 226, 184)"
    assert serious_violations(frame) == []
    page.locator(".content").screenshot(path=str(SCREENSHOTS / "panel-dark.png"))
    # The open status menu too.
    frame.get_by_role("button", name="Status of Update the changelog for PROJ-12345").click()
    frame.get_by_role("menu").wait_for()
    assert background(frame, ".hc-menu") != WHITE
    assert serious_violations(frame) == []
    for name in ("panel-light.png", "panel-dark.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000
    context.close()


def test_a_320_px_panel_in_dark_jira_has_no_overlap_and_keeps_ids_whole(browser, seeded):
    # Dark from the first paint, with the operating system in light mode.
    context, page, frame = open_issue(browser, seeded, theme="dark", os_scheme="light")
    frame.locator('html[data-color-mode="dark"]').wait_for(state="attached")
    assert background(frame) == JIRA_DARK_SURFACE
    page.locator("#herochecklist-panel").evaluate("f => { f.style.width = '320px'; }")
    frame.wait_for_function("innerWidth === 320")
    layout = frame.evaluate(
        """() => {
      const CONTROLS = ".hc-move, .hc-toggle, .hc-text-cell, .hc-chip, .hc-status, .hc-req, .hc-actions button";
      const overlaps = [], outside = [], broken = [];
      const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
      for (const row of document.querySelectorAll(".hc-item")) {
        const boxes = [...row.querySelectorAll(CONTROLS)].map(e => [e.className, e.getBoundingClientRect()]);
        boxes.forEach(([name, box], i) => {
          if (box.left < 0 || box.right > innerWidth) outside.push(name);
          for (const [other, second] of boxes.slice(i + 1)) if (hit(box, second)) overlaps.push(`${name} / ${other}`);
        });
      }
      const lines = (node, word) => {
        const at = node.textContent.indexOf(word), range = document.createRange();
        range.setStart(node, at); range.setEnd(node, at + word.length);
        return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
      };
      const walker = document.createTreeWalker(document.querySelector(".hc-list"), NodeFilter.SHOW_TEXT);
      for (let node; (node = walker.nextNode());) {
        for (const word of ["PROJ-12345", "@557058:alice", "@557058:bob", "2026-12-01", "release/2.4"]) {
          if (node.textContent.includes(word) && lines(node, word) !== 1) broken.push(word);
        }
      }
      return { overlaps, outside, broken, scroll: document.documentElement.scrollWidth };
    }"""
    )
    assert layout == {"overlaps": [], "outside": [], "broken": [], "scroll": 320}
    # The status and actions of a row wrap under its text, not over it.
    row = frame.locator(".hc-item").nth(3)
    text, status = row.locator(".hc-text-cell").bounding_box(), row.locator(".hc-status").bounding_box()
    assert status["y"] >= text["y"] + text["height"] - 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#herochecklist-panel").screenshot(path=str(SCREENSHOTS / "panel-320-dark.png"))
    context.close()
