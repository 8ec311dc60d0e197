"""People and dates in the panel, in a real browser inside the simulated Jira issue page: the assignee picker that
searches Jira's users from the browser as the signed-in user (AP.request), chips with Jira's names and avatars,
due dates with overdue and due-today states on the user's own calendar, and the "only my items" filter. Every
control is driven from the keyboard; the server keeps the accountId and nothing else about a person."""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from checklists.models import ChecklistItem as Item
from core.logging import JSONFormatter
from devhost.jira import DEMO_USER
from tenants.models import Tenant
from tests.checklists.conftest import add, panel, tick

pytestmark = pytest.mark.django_db(transaction=True)
ALINA = "557058:devhost-alina"
BOB = "557058:devhost-bob"


def zone_on_another_day() -> str:
    """A time zone whose calendar day is not UTC's right now (UTC-11 before 10:00 UTC, UTC+14 after): a panel that
    took "today" from UTC instead of the user's clock would show the wrong states."""
    return "Pacific/Pago_Pago" if datetime.now(ZoneInfo("UTC")).hour < 10 else "Pacific/Kiritimati"


def item_row(frame, text):
    return frame.locator(".hc-item", has=frame.locator(".hc-text-cell", has_text=text))


def shown(locator) -> str:
    """The text a sighted user sees in an element (not its words for screen readers only)."""
    return locator.evaluate(
        "el => [...el.childNodes].filter(n => !(n.classList && n.classList.contains('hc-sr')))"
        ".map(n => n.textContent).join('')"
    )


def stored_rows() -> str:
    """Every row of every table of ours, as text."""
    ours = {"core", "staff", "tenants", "checklists", "contacts", "operations"}
    rows = []
    for model in apps.get_models():
        if model._meta.app_label in ours:
            rows.extend(repr(row) for row in model.objects.values())
    return "\n".join(rows)


def test_the_assignee_picker_searches_jira_as_the_user_and_only_the_account_id_is_stored(page, jira, caplog):

    caplog.set_level(logging.DEBUG)
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Ship it")
    row = item_row(frame, "Ship it")

    # Keyboard only: Enter on the assign chip opens the combobox with the focus in it.
    row.get_by_role("button", name="Assign Ship it").focus()
    page.keyboard.press("Enter")
    box = frame.get_by_role("combobox", name="Assign Ship it to")
    assert box.evaluate("el => el === document.activeElement")
    page.keyboard.type("ali")
    options = frame.get_by_role("listbox", name="People").get_by_role("option")
    frame.get_by_text("2 people found.").wait_for()
    # Jira's search, in Jira's order; the deactivated "Alan Former" is not offered.
    assert [" ".join(t.split()) for t in options.all_inner_texts()] == ["Alice Andersen (you)", "Alina Novak"]
    assert box.get_attribute("aria-activedescendant") == options.nth(0).get_attribute("id")
    page.keyboard.press("ArrowDown")
    assert box.get_attribute("aria-activedescendant") == options.nth(1).get_attribute("id")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    page.keyboard.press("Enter")

    chip = row.get_by_role("button", name="Assignee of Ship it: Alina Novak")
    chip.wait_for()
    assert chip.evaluate("el => el === document.activeElement"), "the focus comes back to the chip"
    avatar = chip.locator("img.hc-avatar")
    assert avatar.get_attribute("src").startswith(f"{jira.base_url}/avatars/")
    # The image loaded: the panel's Content-Security-Policy lets Jira's avatars in.
    avatar.evaluate("img => img.complete ? 0 : new Promise(done => img.addEventListener('load', done))")
    assert avatar.evaluate("img => img.naturalWidth") > 0
    assert Item.objects.get(text="Ship it").assignee_account_id == ALINA

    # The browser asked Jira as the user viewing the page; our server asked Jira nothing about anyone.
    assert {a.path for a in jira.people.asked} >= {"/rest/api/3/user/search", "/rest/api/3/user/bulk"}
    assert {a.account_id for a in jira.people.asked} == {DEMO_USER}
    assert not [r for r in jira.recorded if "/user" in r.path]
    # Only the accountId reached us: no name, email or avatar in any table or any log line.
    formatter = JSONFormatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)
    assert caplog.records, "the requests above were logged"
    stored = stored_rows()
    assert ALINA in stored
    for trace in ("Alina", "Novak", "alina@devhost.example", "/avatars/", "Alice Andersen", "alice@devhost.example"):
        assert trace not in stored, trace
        assert trace not in logged, trace

    # Escape closes the picker and gives the focus back; Tab to "Unassign" and Enter clears the assignee.
    page.keyboard.press("Enter")
    box.wait_for()
    page.keyboard.press("Escape")
    chip.wait_for()
    assert frame.locator(".hc-picker").count() == 0
    assert chip.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    box.wait_for()
    page.keyboard.press("Tab")
    assert frame.get_by_role("button", name="Unassign").evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    row.get_by_role("button", name="Assign Ship it").wait_for()
    assert Item.objects.get(text="Ship it").assignee_account_id == ""


def test_due_dates_on_the_users_calendar_and_the_only_mine_filter(browser, jira, client):
    from tests.conftest import Api

    zone = zone_on_another_day()
    today = datetime.now(ZoneInfo(zone)).date()
    assert today != datetime.now(ZoneInfo("UTC")).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    response = Api(client, Tenant.objects.get(), account_id=DEMO_USER).put_text(
        "## Sprint\n"
        f"- [ ] Fix the login {{@{DEMO_USER} due:{yesterday}}}\n"
        f"- [ ] Review the docs {{@{BOB} due:{today}}}\n"
        f"- [x] Sent late {{due:{yesterday}}}\n"
        f"- [ ] Plan the demo {{@{DEMO_USER}}}\n"
    )
    assert response.status_code == 200, response.content
    context = browser.new_context(viewport={"width": 1100, "height": 900}, timezone_id=zone, locale="en-US")
    context.set_default_timeout(90_000)  # generous, as for the other browser tests: a loaded machine is slow
    page = context.new_page()
    page.goto(f"{jira.base_url}/browse/DEMO-1")
    frame = panel(page)
    frame.locator(".hc-item").nth(4).wait_for()

    # Names and avatars of the assignees, looked up in Jira by the browser in one call.
    item_row(frame, "Review the docs").get_by_text("Bob Brennan").wait_for()
    assert item_row(frame, "Fix the login").locator(".hc-person").inner_text() == "Alice Andersen"
    assert [a.path for a in jira.people.asked] == ["/rest/api/3/user/bulk"]

    # The states are words, computed on the user's calendar day; a finished item is never overdue.
    def due(text):
        return item_row(frame, text).locator(".hc-due")

    def spoken(day):
        return f"{day:%b} {day.day}, {day.year}"

    assert shown(due("Fix the login")) == f"Overdue: {spoken(yesterday)}"
    assert shown(due("Review the docs")) == "Due today"
    assert due("Review the docs").locator("time").get_attribute("datetime") == str(today)
    assert shown(due("Sent late")) == f"Due {spoken(yesterday)}"
    # Screen readers hear which item a date belongs to.
    assert due("Fix the login").get_attribute("class").split() == ["hc-chip", "hc-due", "hc-due-overdue"]
    item_row(frame, "Fix the login").get_by_role(
        "button", name=f"Overdue: {spoken(yesterday)} for Fix the login. Change"
    ).wait_for()

    # Set a date from the keyboard: Enter opens the native date input, Enter saves, the focus returns.
    plan = item_row(frame, "Plan the demo")
    plan.get_by_role("button", name="Due date for Plan the demo").focus()
    page.keyboard.press("Enter")
    date_input = plan.locator("input[type=date]")
    assert date_input.get_attribute("aria-label") == "Due date of Plan the demo"
    assert date_input.evaluate("el => el === document.activeElement")
    date_input.fill(str(tomorrow))
    page.keyboard.press("Enter")
    chip = plan.get_by_role("button", name=f"Due {spoken(tomorrow)} for Plan the demo. Change")
    chip.wait_for()
    assert chip.evaluate("el => el === document.activeElement")
    assert Item.objects.get(text="Plan the demo").due_date == tomorrow
    # ... and clear it: Escape first leaves it as it was, then Clear removes it.
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    chip.wait_for()
    page.keyboard.press("Enter")
    frame.get_by_role("button", name="Clear").click()
    plan.get_by_role("button", name="Due date for Plan the demo").wait_for()
    assert Item.objects.get(text="Plan the demo").due_date is None

    # "Only my items": the current user's items under their header, said in words; a second press shows all.
    mine = frame.get_by_role("button", name="Only my items")
    assert mine.get_attribute("aria-pressed") == "false"
    mine.focus()
    page.keyboard.press("Space")
    frame.get_by_text("Showing 2 of 4 items: those assigned to you.").wait_for()
    assert mine.get_attribute("aria-pressed") == "true"
    assert frame.locator(".hc-item .hc-text-cell").all_inner_texts() == ["Sprint", "Fix the login", "Plan the demo"]
    # The filter stays through a write and its re-render.
    tick(frame, "Fix the login")
    frame.get_by_text("2 of 4 done").wait_for()
    assert frame.locator(".hc-item .hc-text-cell").all_inner_texts() == ["Sprint", "Fix the login", "Plan the demo"]
    # Alt+Down moves an item below the next row shown, past the rows the filter hides.
    item_row(frame, "Fix the login").locator(".hc-move").focus()
    page.keyboard.press("Alt+ArrowDown")
    frame.locator(".hc-item").nth(2).filter(has_text="Fix the login").wait_for()
    assert frame.locator(".hc-item .hc-text-cell").all_inner_texts() == ["Sprint", "Plan the demo", "Fix the login"]
    # An item added with the filter on is nobody's yet: it stays in sight (it vanished at once, as if not added),
    # and the note counts it, until the filter is switched.
    add(frame, "Write the notes")
    frame.get_by_text("Showing 3 of 5 items: those assigned to you and one you just added.").wait_for()
    assert frame.locator(".hc-item .hc-text-cell").all_inner_texts()[-1] == "Write the notes"
    mine.press("Enter")
    frame.locator(".hc-item").nth(5).wait_for()
    assert mine.get_attribute("aria-pressed") == "false"
    expected = ["Sprint", "Review the docs", "Sent late", "Plan the demo", "Fix the login", "Write the notes"]
    assert frame.locator(".hc-item .hc-text-cell").all_inner_texts() == expected
    # Names stayed cached through every write and re-render: still the one lookup of the first load.
    assert [a.path for a in jira.people.asked] == ["/rest/api/3/user/bulk"]
    context.close()
