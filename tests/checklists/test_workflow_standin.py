"""Issue #18 end to end through the stand-in Jira (devhost/jira_workflow.py) and the live app: a transition blocked
then allowed by the validator, the post function on another transition, and checklists at creation, on a clone and
after a move, written by the app."""

import httpx
import pytest

from checklists.models import Checklist, ChecklistChange, ChecklistItem, Template
from checklists.services import Actor, checklist_replace_text
from checklists.sync import checklist_progress_push
from devhost.jira import DEMO_ISSUES
from tenants.models import Tenant
from tenants.permissions import APP_ACCOUNT_ID
from tests.conftest import issue_ref

pytestmark = pytest.mark.django_db(transaction=True)
ALICE = Actor("557058:alice")


def transition(jira, issue_key, transition_id):
    response = httpx.post(
        f"{jira.base_url}/rest/api/3/issue/{issue_key}/transitions", json={"transition": {"id": transition_id}}
    )
    return response.status_code, (response.json()["errorMessages"][0] if response.status_code == 400 else "")


def items(issue_id):
    return list(ChecklistItem.objects.filter(checklist__issue_id=issue_id).values_list("text", "status"))


def test_the_validator_blocks_until_done_and_the_post_function_resets(jira):
    tenant = Tenant.objects.get()
    checklist = checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=ALICE, text="- [x] tag\n- [ ] build\n- [ ] deploy\n- [ ]? polish\n"
    )
    assert transition(jira, "DEMO-1", "31") == (400, "This issue has no checklist yet.")  # not pushed yet
    checklist_progress_push(checklist_id=checklist.id)
    assert transition(jira, "DEMO-1", "31") == (400, "2 required items open")
    assert jira.workflow.status("10001") == "In Progress"
    checklist = checklist_replace_text(
        tenant=tenant, issue=issue_ref(), actor=ALICE, text="- [x] tag\n- [x] build\n- [-] deploy\n- [ ]? polish\n"
    )
    checklist_progress_push(checklist_id=checklist.id)
    assert transition(jira, "DEMO-1", "31") == (204, "")
    assert jira.workflow.status("10001") == "Done"
    # Reopen carries our post function (reset): Jira calls it, the app queues it (run at once here: no broker).
    assert transition(jira, "DEMO-1", "41") == (204, "")
    assert jira.workflow.deliveries[-1] == ("post function", 204)
    assert {status for _, status in items("10001")} == {"todo"}
    assert jira.property("10001", "herochecklist-progress")["done"] == 0  # pushed by the task, not later
    # The condition hides "Done" while the checklist is not complete.
    jira.workflow.transitions["31"]["condition"] = {"mode": "required"}
    jira.workflow.statuses["10001"] = "In Progress"
    assert "31" not in jira.workflow.available("10001")


def test_checklists_at_creation_on_clones_and_after_moves(jira):
    tenant = Tenant.objects.get()
    Template.objects.create(
        tenant=tenant, name="Release", text="## Ship\n- [ ] tag\n- [ ] build\n", project_id="10000", auto_apply=True
    )
    # Created: the project's auto-apply template, written by the app, in the property at once (JQL sees it).
    created = jira.workflow.create("A new release")
    assert jira.workflow.deliveries[-1] == ("jira:issue_created", 204)
    assert items(created["id"]) == [("Ship", "todo"), ("tag", "todo"), ("build", "todo")]
    authors = set(
        ChecklistChange.objects.filter(checklist__issue_id=created["id"]).values_list("actor_account_id", flat=True)
    )
    assert authors == {APP_ACCOUNT_ID}
    assert jira.property(created["id"], "herochecklist-progress")["total"] == 2
    # Cloned: the source's checklist (not the template), statuses back to to do.
    source = DEMO_ISSUES[0]
    checklist_replace_text(tenant=tenant, issue=issue_ref(), actor=ALICE, text="- [x] alpha\n- [!] beta\n")
    clone = jira.workflow.clone(source)
    assert items(clone["id"]) == [("alpha", "todo"), ("beta", "todo")]
    assert set(ChecklistItem.objects.filter(checklist__issue_id=clone["id"]).values_list("created_by", flat=True)) == {
        APP_ACCOUNT_ID
    }
    # The site keeps statuses on clones when it says so.
    tenant.clone_keeps_statuses = True
    tenant.save()
    kept = jira.workflow.clone(source)
    assert items(kept["id"]) == [("alpha", "done"), ("beta", "blocked")]
    # Moved to another project as another type: the same checklist, with the new key and ids.
    before = items(created["id"])
    jira.workflow.move(created, project_id="10100", type_id="10004", key="OPS-7")
    moved = Checklist.objects.get(issue_id=created["id"])
    assert (moved.issue_key, moved.project_id, moved.issue_type_id) == ("OPS-7", "10100", "10004")
    assert items(created["id"]) == before
