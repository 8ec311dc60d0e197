"""The panel in a real browser (Debian's Chromium, driven by Playwright), inside the simulated Jira issue page,
talking to the real app through the real auth path."""

from datetime import date, timedelta
from pathlib import Path

import pytest

from checklists.models import ChecklistItem
from devhost.jira import DEMO_USERS
from tenants.models import Tenant
from tests.checklists.conftest import add, panel, serious_violations, tick, ticked
from tests.conftest import wait_for

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
pytestmark = pytest.mark.django_db(transaction=True)


def texts(frame) -> list[str]:
    return frame.locator(".hc-item .hc-text-cell").all_inner_texts()


@pytest.mark.per_database  # the one browser test of the MongoDB half (tests/conftest.py)
def test_add_tick_reorder_and_reload(page):
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Freeze the branch", "Run the regression suite", "Update the changelog", "Tag the release", "Deploy")
    assert texts(frame) == [
        "Freeze the branch",
        "Run the regression suite",
        "Update the changelog",
        "Tag the release",
        "Deploy",
    ]
    tick(frame, "Freeze the branch")
    frame.locator(".hc-done").first.wait_for()
    tick(frame, "Update the changelog")
    frame.get_by_text("2 of 5 done").wait_for()
    # Keyboard reorder: Deploy moves above Tag the release.
    frame.locator(".hc-item", has_text="Deploy").locator(".hc-move").focus()
    page.keyboard.press("Alt+ArrowUp")
    frame.locator(".hc-item").nth(3).filter(has_text="Deploy").wait_for()
    expected = ["Freeze the branch", "Run the regression suite", "Update the changelog", "Deploy", "Tag the release"]
    assert texts(frame) == expected

    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(4).wait_for()
    assert texts(frame) == expected
    checked = [frame.locator(".hc-item").nth(i).locator(".hc-toggle").is_checked() for i in range(5)]
    assert checked == [True, False, True, False, False]
    assert frame.locator(".hc-count").inner_text().startswith("40%")
    # The iframe was resized to its content through the AP shim.
    assert page.locator("#herochecklist-panel").bounding_box()["height"] > 200


def test_text_mode_keeps_the_items_and_their_ids(page):
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "one", "two", "three")
    ids = frame.locator(".hc-item").evaluate_all("rows => rows.map(r => r.dataset.id)")
    frame.get_by_role("button", name="Edit as text").click()
    area = frame.get_by_label("Checklist as text")
    assert area.input_value() == "- [ ] one\n- [ ] two\n- [ ] three\n"
    area.fill("## Plan\n- [x] one\n- [ ] two\n- [ ] three\n- [ ]? four\n")
    frame.get_by_role("button", name="Save").click()
    frame.locator(".hc-item").nth(4).wait_for()
    assert texts(frame) == ["Plan", "one", "two", "three", "four"]
    new_ids = frame.locator(".hc-item").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert new_ids[1:4] == ids
    assert frame.locator(".hc-item").nth(1).locator(".hc-toggle").is_checked()


def test_text_mode_explains_every_attribute_it_writes(page, client):
    """Found using the panel: an item shown to customers reads "{due:2026-12-24 customer}" in text mode, and the help
    under the box named the assignee and the due date but not "customer"."""
    from tests.conftest import Api

    Api(client, Tenant.objects.get()).put_text(
        "- [ ] Reset the password {@557058:devhost-bob due:2026-12-24 customer}\n"
    )
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").first.wait_for()
    frame.get_by_role("button", name="Edit as text").click()
    written = frame.get_by_label("Checklist as text").input_value()
    assert "{@557058:devhost-bob due:2026-12-24 customer}" in written
    help_text = frame.locator("#hc-text-help").inner_text()
    for attribute in ("{@accountId", "due:YYYY-MM-DD", "customer}"):
        assert attribute in help_text, attribute


def test_a_long_item_names_its_controls_by_its_first_words(page):
    """Found with the accessibility tree: each of the up to nine controls of a row was named by the item's whole text,
    so a screen reader read a 300-character item nine times over as the user tabbed along its row. Names now hold its
    first 80 characters at the most, ended by "…" (the row shows the whole text)."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    words = "Check with the on-call engineer that the database migration of the orders service ran 🚀 " * 4
    add(frame, words.strip(), "Short one")
    first = "".join(list(words)[:79]).rstrip() + "…"
    row = frame.locator(".hc-item").first
    assert row.locator(".hc-text-cell").inner_text() == words.strip()
    named = row.locator("[aria-label]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert len(named) >= 7, named
    for name in named:
        assert first in name and words.strip() not in name and len(name) < 80 + 60, name
    assert row.get_by_role("button", name=f"Delete {first}", exact=True).count() == 1
    assert frame.get_by_label("Short one done", exact=True).count() == 1  # a short item keeps its whole text


def test_html_in_an_item_is_shown_as_text(page):
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    attack = "<img src=x onerror=alert(1)>"
    add(frame, attack)
    assert texts(frame) == [attack]
    assert frame.locator(".hc-item img").count() == 0
    page.reload()
    panel(page).locator(".hc-item").first.wait_for()
    assert page.dialogs == []


def test_each_item_reads_in_the_direction_of_its_own_language(page):
    """A Hebrew or Arabic item in an English panel: right to left, its final punctuation at its end (on the left), in
    the list, in its editor and in the add box; an English item stays left to right."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "שלום!", "## כותרת", "Deploy v2.4!")
    direction = "el => getComputedStyle(el).direction"
    cells = frame.locator(".hc-item .hc-text-cell")
    assert [cells.nth(i).evaluate(direction) for i in range(3)] == ["rtl", "rtl", "ltr"]
    box = frame.get_by_label("New checklist item")
    box.fill("مرحبا.")
    assert box.evaluate(direction) == "rtl"
    cells.first.click()
    assert frame.get_by_label("Item text").evaluate(direction) == "rtl"


def test_a_change_underneath_a_text_edit_is_merged_with_the_typed_text_and_never_undone_by_the_save(page, client):
    """Text mode replaces the whole list, so it stays conditional on the checklist version: a change by anyone since
    it opened is a 412 (edits of single items conflict only on their item: test_panel_sync_browser.py). The banner's
    button merges the latest text into what the user typed: before, it kept the draft as typed, and saving it then
    silently undid the other person's change (their rename reverted, their new item deleted)."""
    from tests.conftest import Api

    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "first", "second", "third")
    frame.get_by_role("button", name="Edit as text").click()
    area = frame.get_by_label("Checklist as text")
    area.fill("- [x] first\n- [ ] second, mine\n- [ ] third\n- [ ] my unsaved idea\n")
    # Someone else, from another browser: adds an item, renames one the user did not touch, renames the one they did.
    other = Api(client, Tenant.objects.get(), account_id="557058:bob")
    assert other.add("added by bob").status_code == 201
    by_text = {item.text: item for item in ChecklistItem.objects.all()}
    assert other.patch(by_text["third"].id, text="third, renamed by bob").status_code == 200
    assert other.patch(by_text["second"].id, text="second, bob's").status_code == 200
    frame.get_by_role("button", name="Save").click()
    banner = frame.get_by_role("alert")
    banner.wait_for()
    assert "Someone else changed this checklist" in banner.inner_text()
    banner.get_by_role("button", name="Merge in the latest version").click()
    frame.get_by_role("alert").wait_for(state="detached")
    assert area.input_value() == (
        "- [x] first\n- [ ] second, mine\n- [ ] second, bob's\n- [ ] third, renamed by bob\n- [ ] added by bob\n"
        "- [ ] my unsaved idea\n"
    )
    # The one line both changed: both versions stay in the box, and the note says which line it was.
    note = frame.get_by_role("note").filter(has_text="changed by you and by someone else")
    assert "One line was changed by you and by someone else" in note.inner_text()
    assert note.locator("q").all_inner_texts() == ["- [ ] second"]
    # ... and one of the two versions is selected in the box (focused), for the user to keep or remove.
    assert area.evaluate("a => a.value.slice(a.selectionStart, a.selectionEnd)") == "- [ ] second, bob's"
    assert area.evaluate("a => a === a.ownerDocument.activeElement")
    (panel_frame,) = [f for f in page.frames if "/connect/panel" in f.url]
    assert serious_violations(panel_frame) == []  # the note under the box, for a screen reader
    area.fill(area.input_value().replace("- [ ] second, bob's\n", ""))
    frame.get_by_role("button", name="Save").click()
    frame.get_by_label("Checklist as text").wait_for(state="detached")
    stored = list(ChecklistItem.objects.order_by("position").values_list("text", "status"))
    assert stored == [
        ("first", "done"),
        ("second, mine", "todo"),
        ("third, renamed by bob", "todo"),
        ("added by bob", "todo"),
        ("my unsaved idea", "todo"),
    ]
    assert frame.get_by_role("note").filter(has_text="changed by you").count() == 0


def test_a_text_edit_back_online_after_a_failed_save_does_not_undo_a_change_made_meanwhile(page, client):
    """Back online after a save that could not be sent, the panel reads the list again (load): in text mode it took
    the newer version as the draft's base, so the next save was not refused and undid, unseen, what someone else
    changed meanwhile (the conflict banner's merge, above, was passed by). The draft now meets the conflict banner."""
    from tests.conftest import Api

    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "first", "second")
    frame.get_by_role("button", name="Edit as text").click()
    area = frame.get_by_label("Checklist as text")
    area.fill("- [x] first\n- [ ] second\n")
    page.context.set_offline(True)
    frame.get_by_role("button", name="Save").click()
    offline = frame.get_by_role("alert").filter(has_text="You are offline")
    offline.wait_for()
    other = Api(client, Tenant.objects.get(), account_id="557058:bob")
    assert other.add("added by bob").status_code == 201
    page.context.set_offline(False)  # the panel's `online` listener reads the list again
    offline.wait_for(state="detached")
    frame.get_by_role("button", name="Save").click()
    banner = frame.get_by_role("alert").filter(has_text="Someone else changed this checklist")
    banner.wait_for()
    assert list(ChecklistItem.objects.order_by("position").values_list("text", flat=True)) == [
        "first",
        "second",
        "added by bob",
    ]
    banner.get_by_role("button", name="Merge in the latest version").click()
    frame.get_by_role("alert").wait_for(state="detached")
    assert area.input_value() == "- [x] first\n- [ ] second\n- [ ] added by bob\n"


def test_screenshot_of_a_realistic_checklist(page, client):
    from tests.conftest import Api

    api = Api(client, Tenant.objects.get(), account_id="557058:devhost-alice")
    # Due dates ahead of today, whenever the test runs (a past one would show "Overdue").
    days = [date.today() + timedelta(days=n) for n in (1, 2, 3)]
    api.put_text(
        "## Before release\n"
        "- [x] Freeze the `release/2.4` branch\n"
        f"- [x] Run the regression suite {{@557058:devhost-alice due:{days[0]}}}\n"
        "- [~] Update the **changelog**\n"
        f"- [ ] Tag v2.4.0 and push {{due:{days[1]}}}\n"
        "## After release\n"
        f"- [!] Deploy to the EU region {{@557058:devhost-bob due:{days[2]}}}\n"
        "- [ ]? Announce in the #releases channel\n"
    )
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(7).wait_for()
    frame.get_by_text("Bob Brennan").wait_for()  # names and avatars come from the stand-in Jira, after the render
    # What the screenshot shows: every row in order with its state, its formatting and its chips, and the progress.
    assert texts(frame) == [
        "Before release",
        "Freeze the release/2.4 branch",
        "Run the regression suite",
        "Update the changelog",
        "Tag v2.4.0 and push",
        "After release",
        "Deploy to the EU region",
        "Announce in the #releases channel",
    ]
    rows = frame.locator(".hc-item")
    assert [rows.nth(i).locator("h3.hc-text-cell").count() for i in range(8)] == [1, 0, 0, 0, 0, 1, 0, 0]
    statuses = [rows.nth(i).locator(".hc-status").get_attribute("data-status") for i in (1, 2, 3, 4, 6, 7)]
    assert statuses == ["done", "done", "in_progress", "todo", "blocked", "todo"]
    checked = [rows.nth(i).locator(".hc-toggle").is_checked() for i in (1, 2, 3, 4, 6, 7)]
    assert checked == [True, True, False, False, False, False]
    assert rows.nth(1).locator("code").inner_text() == "release/2.4"
    assert rows.nth(3).locator("strong").inner_text() == "changelog"
    chips = [rows.nth(i).locator(".hc-chip:not(.hc-unset)").all_inner_texts() for i in (2, 4, 6, 7)]
    due = [f"Due {day:%b} {day.day}, {day.year}" for day in days]
    assert chips == [["Alice Andersen", due[0]], [due[1]], ["Bob Brennan", due[2]], ["optional"]]
    assert frame.locator(".hc-count").inner_text() == "33% · 2 of 6 done, 3 required open"
    assert "null" not in frame.locator("#app").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "panel.png"), full_page=True)
    assert (SCREENSHOTS / "panel.png").stat().st_size > 10_000


def test_a_browse_only_user_sees_a_read_only_panel_and_an_editor_can_edit(browser, jira, client):
    """The stand-in Jira's user switcher opens the panel as Carol (browse only), then as Bob (edit issues)."""
    from tests.conftest import Api

    carol, bob = "557058:devhost-carol", "557058:devhost-bob"
    assert DEMO_USERS[carol][1] == "browse" and DEMO_USERS[bob][1] == "edit"
    assert Api(client, Tenant.objects.get(), account_id=bob).add("Written by Bob").status_code == 201
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(90_000)  # generous, as for the other browser tests: a loaded machine is slow
    page = context.new_page()
    page.goto(f"{jira.base_url}/browse/DEMO-1?as={carol}")
    frame = panel(page)
    frame.get_by_text("You can view this checklist but not edit it").wait_for()
    assert texts(frame) == ["Written by Bob"]
    for control in ("New checklist item", "Written by Bob done", "Delete Written by Bob"):
        assert frame.get_by_label(control).count() == 0, control
    # Buttons that write are gone; "Only my items" only filters what is shown, and History only reads.
    assert (
        frame.locator(".hc-add, .hc-toolbar, .hc-move, .hc-status, button:not(.hc-mine, .hc-history-toggle)").count()
        == 0
    )
    # The switcher in the stand-in page reopens the issue as Bob, who may edit it.
    page.get_by_label("Viewing as").select_option(bob)
    page.wait_for_url(f"**as={bob.replace(':', '%3A')}")
    frame = panel(page)
    add(frame, "Added by Bob")
    assert texts(frame) == ["Written by Bob", "Added by Bob"]
    assert frame.get_by_text("You can view this checklist but not edit it").count() == 0
    # A click, then the server's answer: the panel renders the saved state, so the count is the proof of the write.
    frame.get_by_label("Written by Bob done").click()
    frame.get_by_text("1 of 2 done").wait_for()
    assert frame.get_by_label("Written by Bob done").is_checked()
    context.close()


def test_the_panel_shrinks_back_when_its_checklist_gets_shorter(page, client):
    """The iframe follows the panel's content both ways: measured on the document, its height never fell below the
    iframe's own, so a panel that once held many items (or an open menu) kept an empty area under its last item."""
    from tests.conftest import Api

    api = Api(client, Tenant.objects.get(), account_id="557058:devhost-alice")
    for n in range(8):
        assert api.add(f"step {n}").status_code == 201
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(7).wait_for()
    iframe = page.locator("#herochecklist-panel")
    tall = iframe.bounding_box()["height"]
    frame.get_by_role("button", name="Edit as text").click()
    frame.get_by_label("Checklist as text").fill("- [ ] step 0\n")
    frame.get_by_role("button", name="Save").click()
    frame.locator(".hc-item").nth(1).wait_for(state="detached")
    heights = []

    def fitted() -> bool:
        # Measured again each time: the panel's content can still change after the item goes (the save's status
        # line), and the host follows each resize message; compared once, an early height could never be met.
        heights.append((frame.locator("body").evaluate("body => body.scrollHeight"), iframe.bounding_box()["height"]))
        content, height = heights[-1]
        return content < tall and round(height) == content

    # The host sets the iframe's height from the panel's resize messages: it comes down to the content's.
    assert wait_for(fitted, 60), (tall, heights[-5:])


def test_jira_not_answering_the_permission_check_keeps_the_panel_editable_and_the_write_retryable(page, jira, settings):
    """An outage is not a lost right: the 403 that says Jira did not answer leaves the panel editable, tells the
    user to try again, and its Retry button sends the same write once Jira answers."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Check the release notes")
    settings.PERMISSION_CACHE_SECONDS = 0  # the next write asks Jira again
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 0
    jira.permissions_fault = "down"
    frame.get_by_label("Check the release notes done").click()
    frame.get_by_role("alert").filter(has_text="Jira did not answer whether you may edit this issue").wait_for()
    assert frame.get_by_label("New checklist item").count() == 1  # still editable, not turned read-only
    assert frame.get_by_text("You can view this checklist but not edit it").count() == 0
    jira.permissions_fault = None
    frame.get_by_role("button", name="Retry").click()
    ticked(frame, "Check the release notes").wait_for()
    frame.get_by_text("1 of 1 done").wait_for()
    assert frame.get_by_role("alert").filter(has_text="Jira did not answer").count() == 0


def test_a_paste_past_the_length_limit_is_named_and_kept_never_cut(page):
    """A browser's maxlength cuts a longer paste without a word; the panel lets the server name the limit and keeps
    every character in the box to be shortened."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    long_text = "Check " + "the release notes " * 130  # about 2,300 characters: past the 2,000 an item holds
    box = frame.get_by_label("New checklist item")
    box.fill(long_text)
    box.press("Enter")
    frame.get_by_role("alert").filter(has_text="text must be at most 2000 characters").wait_for()
    assert box.input_value() == long_text.strip()
    assert frame.locator(".hc-item").count() == 0


def test_a_refused_edit_of_an_item_keeps_its_editor_open_with_what_was_typed(page):
    """Found using the panel: an item's edit refused (too long) or not sent (offline) closed its editor and dropped
    what was typed, while the banner said "Your text is kept". The editor now stays open with the typed text, to
    shorten or to save again once back online."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Check the release notes")
    frame.locator(".hc-item .hc-text-cell").click()
    editor = frame.get_by_label("Item text")
    long_text = "Check " + "the release notes " * 130  # past the 2,000 characters an item holds
    editor.fill(long_text)
    editor.press("Enter")
    frame.get_by_role("alert").filter(has_text="text must be at most 2000 characters").wait_for()
    assert editor.count() == 1
    assert editor.input_value() == long_text

    page.context.set_offline(True)
    editor.fill("Check the release notes twice")
    editor.press("Enter")
    frame.get_by_role("alert").filter(has_text="You are offline").wait_for()
    assert editor.count() == 1
    assert editor.input_value() == "Check the release notes twice"
    page.context.set_offline(False)
    editor.press("Enter")
    frame.locator(".hc-item .hc-text-cell", has_text="twice").wait_for()
    assert ChecklistItem.objects.get().text == "Check the release notes twice"


def test_controls_are_named_by_the_items_words_not_its_markdown(page):
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Ship **the** `build`")
    row = frame.locator(".hc-item", has_text="Ship the build")
    for name in ("Ship the build done", "Assign Ship the build", "Visible to customer: Ship the build"):
        assert row.get_by_label(name, exact=True).count() == 1, name
    assert row.get_by_role("button", name="Due date for Ship the build", exact=True).count() == 1
    named = row.locator("[aria-label]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert named and not [label for label in named if "**" in label or "`" in label], named


PASTE = """(el, text) => {
    const data = new DataTransfer();
    data.setData("text/plain", text);
    el.focus();
    // A paste the page did not take over inserts the text as the browser would (an input drops the line breaks).
    if (el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }))) {
        el.setRangeText(text.replace(/\\r?\\n/g, ""), el.selectionStart, el.selectionEnd, "end");
    }
}"""


def test_pasted_lines_after_a_failed_add_are_kept_to_add_again_not_lost(page):
    """Found in review: a paste stops at its first failed add, and the lines after it were dropped: only the failed
    one came back, in the box, without its box mark, and nothing said the rest were gone. All of them now wait under
    the box, marks and all, to add again or discard."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    sent = []

    def second_fails(route):
        sent.append(route.request.post_data)
        route.abort() if len(sent) == 2 else route.continue_()

    page.route("**/checklist/items", second_fails)
    box = frame.get_by_label("New checklist item")
    box.evaluate(PASTE, "one\n[x] two\n## three\nfour\n")
    note = frame.get_by_role("status").filter(has_text="3 pasted lines were not added.")
    note.wait_for()
    assert len(sent) == 2  # the rest were not tried
    assert list(ChecklistItem.objects.values_list("text", flat=True)) == ["one"]
    assert box.input_value() == ""  # kept below with the others, not also in the box
    page.unroute("**/checklist/items")
    note.get_by_role("button", name="Add again").click()
    frame.locator(".hc-item").nth(3).wait_for()
    stored = list(ChecklistItem.objects.order_by("position").values_list("text", "status", "is_header"))
    assert stored == [("one", "todo", False), ("two", "done", False), ("three", "todo", True), ("four", "todo", False)]
    assert frame.get_by_text("pasted lines were not added").count() == 0


def test_several_lines_pasted_into_the_add_box_are_one_item_each(page):
    """A list copied from a document or a mail, pasted into the add box: an input keeps no line breaks, so the lines
    ran together as one long item. Each line is an item now, in order, without its bullet, number or box ("[x]" is
    done); "## " still makes a header. One line pastes as text does, to be edited before Enter."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    box = frame.get_by_label("New checklist item")
    box.evaluate(PASTE, "Release steps:\n- [ ] Write the notes\n- [x] Tag v2.4\n* Deploy\n\n## After\n1. Announce it\n")
    frame.locator(".hc-item").nth(5).wait_for()
    frame.get_by_text("1 of 5 done").wait_for()
    stored = list(ChecklistItem.objects.order_by("position").values_list("text", "status", "is_header"))
    assert stored == [
        ("Release steps:", "todo", False),
        ("Write the notes", "todo", False),
        ("Tag v2.4", "done", False),
        ("Deploy", "todo", False),
        ("After", "todo", True),
        ("Announce it", "todo", False),
    ]
    assert box.input_value() == ""
    box.evaluate(PASTE, "just one line")
    assert box.input_value() == "just one line"
    assert ChecklistItem.objects.count() == 6


def test_visible_to_customer_is_offered_only_in_a_service_desk_project(page, jira):
    """Only Jira Service Management has a customer portal to show an item on: elsewhere the toggle meant nothing."""
    from checklists import jira_facts

    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Reset the password", "Call the customer")  # DEMO is a service desk (the stand-in's portal)
    shown = frame.get_by_label("Visible to customer: Call the customer", exact=True)
    shown.click()
    frame.locator(".hc-customer.hc-on").wait_for()
    jira.project_types["10000"] = "software"  # the project is a software one after all
    jira_facts.forget_facts()  # the live server runs in this process: what it knew of the project goes
    page.reload()
    frame = panel(page)
    frame.locator(".hc-item").nth(1).wait_for()
    assert frame.get_by_label("Visible to customer: Reset the password", exact=True).count() == 0
    # The item already shown to customers keeps its toggle, to take it back; its flag is kept as it is.
    assert (
        frame.get_by_label("Visible to customer: Call the customer", exact=True).get_attribute("aria-pressed") == "true"
    )


# Text the panel draws that only an emoji font has: a character past the Basic Multilingual Plane (the system fonts'
# symbols, ☑ ✎ ✕ ▾, are all in it) or the emoji presentation selector; in text nodes and in tooltips.
EMOJI_IN_THE_PANEL = r"""() => {
  const emoji = /[\u{10000}-\u{10FFFF}\uFE0F]/u;
  const found = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) if (emoji.test(walk.currentNode.data)) found.push(walk.currentNode.data);
  for (const el of document.querySelectorAll("[title], [placeholder]")) {
    for (const value of [el.title, el.placeholder]) if (value && emoji.test(value)) found.push(value);
  }
  return found;
}"""


def test_no_icon_needs_an_emoji_font(page):
    """Found using the panel on a machine without an emoji font: the "Visible to customer" toggle, the emoji 👁, drew
    as an empty box. Its eye is drawn in the page (an inline SVG in the text's colour), under the same name, and no
    icon anywhere in the panel, list, text mode or history, is an emoji."""
    frame = panel(page)
    frame.get_by_text("No checklist yet").wait_for()
    add(frame, "Call the customer")
    toggle = frame.get_by_label("Visible to customer: Call the customer", exact=True)
    eye = toggle.locator("svg")
    box = eye.bounding_box()
    assert box and box["width"] >= 10 and box["height"] >= 10, "the eye is drawn, about the size of the text"
    assert eye.get_attribute("aria-hidden") == "true"  # the button's name is its label alone
    assert toggle.evaluate("b => b.textContent") == ""
    toggle.click()
    frame.locator(".hc-customer.hc-on").wait_for()
    assert frame.locator("body").evaluate(EMOJI_IN_THE_PANEL) == []
    frame.get_by_role("button", name="History").click()
    frame.get_by_text("showed “Call the customer” to customers").wait_for()
    assert frame.locator("body").evaluate(EMOJI_IN_THE_PANEL) == []
    frame.get_by_role("button", name="Edit as text").click()
    frame.locator("#hc-text-help").wait_for()
    assert frame.locator("body").evaluate(EMOJI_IN_THE_PANEL) == []
