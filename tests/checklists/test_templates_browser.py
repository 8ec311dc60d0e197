"""The template manager and the panel's template picker and custom statuses, in Debian's Chromium inside the stand-in
Jira's pages (its project settings tab, and an issue), through the real auth path. Few page loads: each test walks
one story."""

import pytest

from checklists.models import Checklist, ChecklistItem, SiteStatus, Template
from devhost.jira_admin import PROJECT_PAGE
from tenants.models import Tenant
from tests.checklists.conftest import panel
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)

ALICE, PAT, BOB = "557058:devhost-alice", "557058:devhost-pat", "557058:devhost-bob"
DEMO_2 = {"id": "10002", "key": "DEMO-2", "projectId": "10000", "typeId": "10003"}


@pytest.fixture
def tab(browser, jira):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(90_000)  # generous, for a loaded machine
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    yield page
    context.close()


def items(frame) -> list[str]:
    return frame.locator(".hc-item .hc-text-cell").all_inner_texts()


def test_a_project_admin_creates_edits_and_auto_applies_a_template_and_others_only_read(tab, jira, client):
    tab.goto(f"{jira.base_url}{PROJECT_PAGE}?as={PAT}")
    manager = tab.frame_locator("#herochecklist-manager")
    manager.get_by_text("No templates yet.").wait_for()
    manager.get_by_role("button", name="New template").click()
    manager.get_by_label("Name", exact=True).fill("Onboarding")
    manager.get_by_label("Items, in the checklist text format").fill("## Day one\n- [ ] laptop\n- [ ] accounts\n")
    assert manager.get_by_label("Every project").is_disabled()  # Pat administers this project, not Jira
    manager.get_by_label("This project").check()
    # Issue types by the names Jira gives them (it was an id to type in, and the list showed the id).
    manager.get_by_label("Only issues of type (optional)").select_option(label="Story")
    manager.get_by_label("Apply automatically when an issue's checklist is first opened").check()
    manager.get_by_role("button", name="Save template").click()
    manager.locator("tr[data-template=Onboarding]").wait_for()
    template = Template.objects.get()
    assert (template.project_id, template.issue_type_id, template.auto_apply) == ("10000", "10003", True)
    assert "This project, issue type Story" in manager.locator("tr[data-template=Onboarding]").inner_text()
    # Edit it, in the same text format; a bad line is refused with its line number and the form stays.
    manager.get_by_role("button", name="Edit Onboarding").click()
    text = manager.get_by_label("Items, in the checklist text format")
    assert text.input_value() == "## Day one\n- [ ] laptop\n- [ ] accounts\n"
    text.fill("## Day one\n- [?] laptop\n")
    manager.get_by_role("button", name="Save template").click()
    assert "line 2" in manager.get_by_role("alert").inner_text()
    text.fill("## Day one\n- [ ] laptop\n- [ ] accounts\n- [ ]? lunch with the team\n")
    manager.get_by_role("button", name="Save template").click()
    manager.get_by_role("button", name="New template").wait_for()
    template.refresh_from_db()
    assert template.text.endswith("- [ ]? lunch with the team\n")
    # Auto-apply: the first opening of an issue in the project shows the template's items.
    tab.goto(f"{jira.base_url}/browse/DEMO-2?as={PAT}")
    frame = panel(tab)
    frame.locator(".hc-item").nth(3).wait_for()
    assert items(frame) == ["Day one", "laptop", "accounts", "lunch with the team"]
    # Bob edits issues but administers nothing: the manager is read-only for him, and the server agrees.
    tab.goto(f"{jira.base_url}{PROJECT_PAGE}?as={BOB}")
    manager = tab.frame_locator("#herochecklist-manager")
    manager.get_by_text("You can view these templates").wait_for()
    assert manager.get_by_role("button", name="New template").count() == 0
    assert manager.get_by_role("button", name="Edit Onboarding").count() == 0
    bob = Api(client, Tenant.objects.get(), account_id=BOB)
    response = bob.call("patch", f"/api/v1/templates/{template.id}", {"name": "mine"})
    assert response.status_code == 403


def test_the_picker_opens_on_the_first_click_hints_asks_before_applying_twice_and_shows_custom_statuses(
    tab, jira, client
):
    alice = Api(client, Tenant.objects.get(), account_id=ALICE)
    alice.call("post", "/api/v1/statuses", {"name": "In review", "key": "review", "color": "#6554c0"})
    alice.call("post", "/api/v1/statuses", {"name": "Shipped", "key": "shipped", "countsAsDone": True})
    alice.put_text("- [review] check the diff\n")
    tab.goto(f"{jira.base_url}/browse/DEMO-1?as={ALICE}")
    frame = panel(tab)
    row = frame.locator(".hc-item").first
    row.wait_for()
    assert row.locator(".hc-status").get_attribute("data-status") == "review"
    # The status menu lists the site's statuses after the built-in five, the item's own one checked.
    row.locator(".hc-status").click()
    menu = frame.get_by_role("menu")
    assert [o.inner_text() for o in menu.get_by_role("menuitemradio").all()][-2:] == ["IN REVIEW", "SHIPPED"]
    assert menu.get_by_role("menuitemradio", checked=True).inner_text() == "IN REVIEW"
    tab.keyboard.press("Escape")  # the open menu has the focus
    menu.wait_for(state="detached")
    # No templates yet: one click opens the menu, which says so; Escape closes it.
    toggle = frame.get_by_role("button", name="Templates", exact=True)
    toggle.click()
    frame.get_by_text("No templates yet.").wait_for()
    toggle.press("Escape")
    assert frame.locator(".hc-template-menu").count() == 0
    alice.call("post", "/api/v1/templates", {"name": "Release", "text": "- [ ] tag\n- [ ] deploy\n"})
    # The first click opens it and the template is there; with items present, applying asks first.
    toggle.click()
    frame.get_by_role("button", name="Release").click()
    dialog = frame.get_by_role("alertdialog")
    assert "already has 1 item" in dialog.inner_text()
    dialog.get_by_role("button", name="Append").click()
    frame.locator(".hc-item").nth(2).wait_for()
    assert items(frame) == ["check the diff", "tag", "deploy"]
    toggle.click()
    frame.get_by_role("button", name="Release").click()
    frame.get_by_role("alertdialog").get_by_role("button", name="Cancel").click()
    toggle.press("Escape")
    assert items(frame) == ["check the diff", "tag", "deploy"]
    toggle.click()
    frame.get_by_role("button", name="Release").click()
    frame.get_by_role("alertdialog").get_by_role("button", name="Replace").click()
    frame.get_by_text("check the diff").wait_for(state="detached")
    assert items(frame) == ["tag", "deploy"]
    # A custom status that counts as done counts in the panel's progress, and text mode writes its key.
    frame.get_by_label("Status of tag").click()
    frame.get_by_role("menu").get_by_role("menuitemradio", name="SHIPPED").click()
    frame.get_by_text("1 of 2 done").wait_for()
    assert ChecklistItem.objects.get(text="tag").status == "shipped"
    frame.get_by_role("button", name="Edit as text").click()
    assert frame.get_by_label("Checklist as text").input_value() == "- [shipped] tag\n- [ ] deploy\n"
    frame.get_by_role("button", name="Cancel").click()
    # Save this checklist as a template (Alice administers Jira): it lands in this project, every item to do, unless
    # the statuses are kept on purpose.
    for name, keep, text in (
        ("From DEMO-1", False, "- [ ] tag\n- [ ] deploy\n"),
        ("DEMO-1 as it stands", True, "- [shipped] tag\n- [ ] deploy\n"),
    ):
        if not frame.get_by_role("button", name="Save this checklist as a template").is_visible():
            toggle.click()
        frame.get_by_role("button", name="Save this checklist as a template").click()
        frame.get_by_label("Template name").fill(name)
        frame.get_by_label("Keep statuses and due dates").set_checked(keep)
        frame.get_by_role("button", name="Save template").click()
        frame.get_by_role("button", name=name).wait_for()
        saved = Template.objects.get(name=name)
        assert (saved.project_id, saved.text) == ("10000", text)


def test_a_jira_admin_manages_the_sites_statuses_and_removing_one_in_use_asks_where_its_items_go(tab, jira, client):
    from devhost.jira_admin import ADMIN_PAGE

    alice = Api(client, Tenant.objects.get(), account_id=ALICE)
    alice.call("post", "/api/v1/statuses", {"name": "In review", "key": "review"})
    alice.put_text("- [review] a\n- [ ] b\n")
    tab.goto(f"{jira.base_url}{ADMIN_PAGE}?as={ALICE}")
    manager = tab.frame_locator("#herochecklist-manager")
    manager.locator("tr[data-status=review]").wait_for()
    manager.get_by_label("Name", exact=True).fill("Shipped")
    manager.get_by_label("Counts as done", exact=True).check()
    manager.get_by_role("button", name="Add status").click()
    manager.locator("tr[data-status=shipped]").wait_for()
    assert SiteStatus.objects.get(key="shipped").counts_as_done is True
    manager.get_by_label("Name of In review").fill("Peer review")
    manager.get_by_role("button", name="Save In review").click()
    manager.get_by_role("button", name="Remove Peer review").wait_for()
    manager.get_by_role("button", name="Remove Peer review").click()
    dialog = manager.get_by_role("alertdialog")
    assert "1 item have the status Peer review" in dialog.inner_text()
    dialog.get_by_label("Move them to").select_option("shipped")
    dialog.get_by_role("button", name="Move and remove Peer review").click()
    manager.locator("tr[data-status=review]").wait_for(state="detached")
    assert list(SiteStatus.objects.values_list("key", flat=True)) == ["shipped"]
    assert sorted(alice.get().json()["items"][i]["status"] for i in (0, 1)) == ["shipped", "todo"]
    assert Checklist.objects.get().done_count == 1
