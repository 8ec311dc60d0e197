"""The panel's History section in a real browser inside the simulated Jira issue page: who (Jira's name for the
accountId, looked up from the browser), what (a short sentence; item text shown as text, never as HTML) and when,
newest first; opened and closed from the keyboard with focus moved to it and back; refreshed when a change arrives
live; "Show more" past the first page; and open to a browse-only user, who may read what they may not change."""

import pytest

from tenants.models import Tenant
from tests.checklists.conftest import panel, serious_violations, tick
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)
BOB = "557058:devhost-bob"
CAROL = "557058:devhost-carol"  # browse only (devhost DEMO_USERS)
HOSTILE = "<img src=x onerror=alert(1)>"


def entries(frame) -> list[str]:
    return [" ".join(t.split()) for t in frame.locator(".hc-history-entry .hc-history-what").all_inner_texts()]


def focused_key(frame) -> str | None:
    return frame.locator("body").evaluate("() => document.activeElement && document.activeElement.dataset.focus")


def test_history_lists_who_did_what_newest_first_from_the_keyboard_and_follows_live_changes(page, client):
    bob = Api(client, Tenant.objects.get(), account_id=BOB)
    assert bob.add(HOSTILE).status_code == 201
    deploy = bob.add("Deploy")
    assert deploy.status_code == 201
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(1).wait_for()
    tick(frame, "Deploy")  # as Alice, the page's user

    toggle = frame.get_by_role("button", name="History")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.focus()
    page.keyboard.press("Enter")
    section = frame.get_by_role("region", name="History")
    frame.locator(".hc-history-entry").nth(2).wait_for()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert focused_key(frame) == "history", "focus moves to the section it opened"
    assert section.get_by_role("heading", name="History").count() == 1
    frame.get_by_text("Alice Andersen changed").wait_for()  # names arrive from Jira after the first draw
    frame.get_by_text("Bob Brennan added “Deploy”").wait_for()
    assert entries(frame) == [
        "Alice Andersen changed “Deploy” from To do to Done",
        "Bob Brennan added “Deploy”",
        f"Bob Brennan added “{HOSTILE}”",
    ]
    # The hostile text is text: no element was made of it and nothing ran.
    assert section.locator("img").count() == 0
    assert page.dialogs == []
    when = section.locator("time").first
    assert when.inner_text() == "just now"
    assert when.get_attribute("datetime") and when.get_attribute("title")
    (panel_frame,) = [f for f in page.frames if "/connect/panel" in f.url]
    assert serious_violations(panel_frame) == []
    # In Jira's dark theme too (the section draws with the panel's theme variables, panel.css).
    page.get_by_label("Theme").select_option("dark")
    frame.locator('html[data-color-mode="dark"]').wait_for(state="attached")
    assert section.locator(".hc-history-what").first.evaluate("e => getComputedStyle(e).color") != "rgb(23, 43, 77)"
    assert serious_violations(panel_frame) == []

    # Someone else's change arrives live while the section is open: the history follows it.
    assert bob.patch(deploy.json()["id"], text="Ship").status_code == 200
    frame.get_by_text("Bob Brennan renamed “Deploy” to “Ship”").wait_for()
    assert entries(frame)[0] == "Bob Brennan renamed “Deploy” to “Ship”"

    # Escape closes it and gives focus back to the toggle.
    section.focus()
    page.keyboard.press("Escape")
    section.wait_for(state="detached")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert focused_key(frame) == "history-toggle"


def test_a_browse_only_user_reads_the_history_and_shows_more_than_the_first_page(browser, jira, client):
    bob = Api(client, Tenant.objects.get(), account_id=BOB)
    for n in range(22):
        assert bob.add(f"step {n}").status_code == 201
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(90_000)
    page = context.new_page()
    page.goto(f"{jira.base_url}/browse/DEMO-1?as={CAROL}")
    frame = panel(page)
    frame.get_by_text("You can view this checklist but not edit it").wait_for()
    frame.get_by_role("button", name="History").click()
    frame.locator(".hc-history-entry").nth(19).wait_for()
    assert frame.locator(".hc-history-entry").count() == 20
    frame.get_by_text("Bob Brennan added “step 21”").wait_for()
    assert entries(frame)[0] == "Bob Brennan added “step 21”"
    frame.get_by_role("button", name="Show more").click()
    frame.locator(".hc-history-entry").nth(21).wait_for()
    assert entries(frame)[-1] == "Bob Brennan added “step 0”"
    assert frame.get_by_role("button", name="Show more").count() == 0
    context.close()


def test_the_history_module_loads_with_the_first_opening_not_with_the_panel(page):
    """history.js is about a tenth of the panel's 40 KB budget, and most views of a checklist never open the section:
    it is fetched with the first opening (as merge.js with a text conflict), and a failed fetch says so, with Retry."""
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    page.reload()
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()  # drawn: every module the panel imports has arrived
    assert [url for url in fetched if "/herochecklist/" in url and url.endswith(".js")]
    assert not [url for url in fetched if "/herochecklist/history" in url]

    page.context.set_offline(True)
    toggle = frame.get_by_role("button", name="History")
    toggle.click()
    frame.get_by_role("alert").filter(has_text="You are offline").wait_for()
    assert toggle.get_attribute("aria-expanded") == "false"
    page.context.set_offline(False)
    frame.get_by_role("alert").wait_for(state="detached")  # back online, the panel reads again and clears the banner
    toggle.click()
    frame.get_by_role("region", name="History").get_by_text("No changes yet.").wait_for()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert [url for url in fetched if "/herochecklist/history" in url]


def test_due_dates_in_the_history_read_as_the_row_shows_them(page, client):
    """History said "set the due date of “Deploy” to 2020-01-05" under a row showing "Jan 5, 2020" (dates.js)."""
    bob = Api(client, Tenant.objects.get(), account_id=BOB)
    assert bob.add("Build", dueDate="2020-01-05").status_code == 201
    deploy = bob.add("Deploy").json()["id"]
    assert bob.patch(deploy, dueDate="2020-01-05").status_code == 200
    assert bob.patch(deploy, dueDate="2031-07-14").status_code == 200
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(1).wait_for()
    # The rows' words for both dates (Build still has the date Deploy had first).
    was, now = (
        frame.locator(".hc-item", has_text=text).locator(".hc-due time").inner_text() for text in ("Build", "Deploy")
    )
    assert "2020" in was and "2031" in now and "-" not in was + now
    frame.get_by_role("button", name="History").click()
    frame.get_by_text("Bob Brennan set the due date").first.wait_for()
    assert entries(frame)[:2] == [
        f"Bob Brennan set the due date of “Deploy” to {now} (was {was})",
        f"Bob Brennan set the due date of “Deploy” to {was}",
    ]
