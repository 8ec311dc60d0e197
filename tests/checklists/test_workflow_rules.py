"""Issue #18, workflow rules: the validator/condition expression and the property it reads, the pending mark that
keeps it honest, the post function, and checklists at creation, on clones and on moves, through the stand-in Jira."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from checklists.models import Checklist, ChecklistItem, SiteStatus, Template
from checklists.services import Actor, checklist_replace_text
from checklists.sync import checklist_progress_push
from checklists.workflow import views
from checklists.workflow_guard import INFLIGHT
from checklists.workflow_rules import (
    ALL,
    NO_BLOCKED,
    PENDING,
    REQUIRED,
    SECTION,
    rule_counts,
    rule_expression,
    section_key,
)
from devhost.jira_workflow import evaluate
from devhost.keys import connect_token, forge_token
from tenants.descriptor import build_descriptor
from tenants.models import Tenant
from tests.conftest import issue_ref

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
ALICE = Actor("557058:alice")
TEXT = "## Release steps\n- [x] tag\n- [ ] build\n- [!] deploy\n- [ ]? polish\n## Later\n- [-] announce\n"


def write(tenant, text, issue=None):
    return checklist_replace_text(tenant=tenant, issue=issue_ref(issue), actor=ALICE, text=text)


def node_verdicts(cases):
    """The real expression text, evaluated by Node.js (JavaScript has the same meaning for this subset of Jira
    expressions: let, ternaries, ==, template literals): [(expression, property, config)] -> results."""
    if not shutil.which("node"):
        pytest.fail("node is missing: `make test` needs it for the Forge tests too")
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map(([e, p, config]) => {"
        "const issue = {properties: {'herochecklist-progress': p}}; return eval(e); })));"
    )
    out = subprocess.run(["node", "-e", script], input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_descriptor_and_manifest_carry_the_one_rule_expression(settings):
    modules = build_descriptor()["modules"]
    validator, condition = modules["jiraWorkflowValidators"][0], modules["jiraWorkflowConditions"][0]
    assert validator["expression"] == rule_expression()
    assert condition["expression"] == rule_expression(condition=True)
    assert max(len(validator["expression"]), len(condition["expression"])) <= 1000  # Jira's expression length cap
    assert validator["edit"]["url"] == "/workflow/config?rule=validator&page=edit&config={validator.config}"
    post = modules["jiraWorkflowPostFunctions"][0]
    assert post["triggered"] == {"url": "/workflow/post-function"}
    events = {h["event"]: h["url"] for h in modules["webhooks"]}
    assert events["jira:issue_created"] == "/connect/webhooks/issue-created"
    assert events["jira:issue_updated"] == "/connect/webhooks/issue-updated"
    # The Forge manifest (checked by @forge/manifest in forge/test) holds the same expressions, one module per option.
    manifest = yaml.safe_load((ROOT / "forge/manifest.yml").read_text())["modules"]
    validators = {m["key"]: m["expression"] for m in manifest["jira:workflowValidator"]}
    assert validators == {
        "herochecklist-required-done": rule_expression(mode=REQUIRED),
        "herochecklist-all-done": rule_expression(mode=ALL),
        "herochecklist-no-blocked": rule_expression(mode=NO_BLOCKED),
    }
    conditions = [m["expression"] for m in manifest["jira:workflowCondition"]]
    assert conditions == [rule_expression(mode=m, condition=True) for m in (REQUIRED, ALL, NO_BLOCKED)]

    keys = {m["key"] for kind in ("trigger", "jira:workflowPostFunction") for m in manifest[kind]}
    assert {views.FORGE_CREATED_MODULE, views.FORGE_UPDATED_MODULE, views.FORGE_RESET_MODULE} <= keys
    assert views.FORGE_APPLY_MODULE in keys
    routes = {e["key"]: e["route"]["path"] for e in manifest["endpoint"]}
    assert routes["herochecklist-issue-created-endpoint"] == "/forge/events/issue-created"
    assert routes["herochecklist-reset-statuses-endpoint"] == "/forge/workflow/reset-statuses"


def test_the_property_carries_what_each_option_needs_and_the_expression_agrees(tenant, standin):
    checklist = write(tenant, TEXT)
    assert checklist_progress_push(checklist_id=checklist.id)
    value = standin.property("10001", "herochecklist-progress")
    release, later = section_key(tenant.id, "Release steps"), section_key(tenant.id, "  release   STEPS ")
    assert release == later  # normalised: case and spacing do not make another section
    assert value == {
        "done": 2,
        "total": 5,
        "percent": 40,
        "mandatoryOpen": 2,
        "complete": "false",
        "version": checklist.version,
        "pending": "false",
        "blocked": 1,
        "sections": {release: 2, section_key(tenant.id, "Later"): 0},
    }
    assert not {"tag", "build", "Release", "release steps", "Later"} & set(json.dumps(value).split('"'))
    section = {"mode": SECTION, "section": release, "sectionName": "Release steps"}
    later_section = {**section, "section": section_key(tenant.id, "Later"), "sectionName": "Later"}
    missing = {**section, "section": "0" * 16, "sectionName": "QA"}
    done = {**value, "done": 5, "mandatoryOpen": 0, "complete": "true", "blocked": 0, "sections": {release: 0}}
    cases = [
        (value, {"mode": REQUIRED}, "2 required items open"),
        (value, {"mode": ALL}, "3 items not done"),
        (value, {"mode": NO_BLOCKED}, "1 item blocked"),
        (value, section, "2 required items open in Release steps"),
        (value, later_section, True),
        (value, missing, "The checklist has no section QA."),
        (done, {"mode": REQUIRED}, True),
        (done, {"mode": ALL}, True),
        ({**value, "pending": "true"}, {"mode": REQUIRED}, PENDING),
        ({k: v for k, v in value.items() if k != "version"}, {"mode": NO_BLOCKED}, PENDING),  # older release
        (None, {"mode": REQUIRED}, "This issue has no checklist yet."),
        (
            {**value, "total": 0, "done": 0, "mandatoryOpen": 0, "percent": 0},
            {"mode": REQUIRED},
            "The checklist has no items.",
        ),
    ]
    for prop, config, expected in cases:
        assert evaluate(prop, config) == expected, (config, expected)
    # The real expression text says the same (validator: true or the message; condition: true only when it passes).
    validator = [(rule_expression(), prop, config) for prop, config, _ in cases]
    condition = [(rule_expression(condition=True), prop, config) for prop, config, _ in cases]
    fixed = [
        (rule_expression(mode=config["mode"]), prop, None) for prop, config, _ in cases if config["mode"] != SECTION
    ]
    assert node_verdicts(validator) == [expected for _, _, expected in cases]
    assert node_verdicts(condition) == [expected is True for _, _, expected in cases]
    assert node_verdicts(fixed) == [e for _, c, e in cases if c["mode"] != SECTION]


def test_a_write_on_a_guarded_site_marks_the_property_pending_before_it_commits(tenant, standin, settings):
    tenant.workflow_rules_in_use = True
    tenant.save()
    checklist = write(tenant, "- [x] one\n")  # marks pending, commits; no broker here, so no push yet
    marks = [c.body for c in standin.recorded if c.method == "PUT"]
    assert marks and marks[-1]["pending"] == "true"
    assert evaluate(standin.property("10001", "herochecklist-progress"), {"mode": REQUIRED}) == PENDING
    assert checklist_progress_push(checklist_id=checklist.id)
    assert evaluate(standin.property("10001", "herochecklist-progress"), {"mode": REQUIRED}) is True
    # A second burst: one mark, then the push clears it; a push racing a write in flight puts the mark back.
    from django.core.cache import cache

    write(tenant, "- [x] one\n- [ ] two\n")
    cache.set(INFLIGHT.format(tenant.id, "10001"), 1, 60)  # another writer between its mark and its commit
    assert checklist_progress_push(checklist_id=checklist.id)
    assert standin.property("10001", "herochecklist-progress")["pending"] == "true"
    cache.delete(INFLIGHT.format(tenant.id, "10001"))
    assert checklist_progress_push(checklist_id=checklist.id)  # forced: the mark stands though the version is synced
    assert standin.property("10001", "herochecklist-progress")["pending"] == "false"
    # A write that changes nothing on an issue without checklist: its mark is taken away again.
    assert write(tenant, "", issue={"id": "10002", "key": "DEMO-2", "projectId": "10000", "typeId": "10003"}) is None
    assert [c.method for c in standin.recorded if "/10002/" in c.path] == ["PUT", "DELETE"]
    assert standin.property("10002", "herochecklist-progress") is None
    # Jira refusing the mark: the write is refused and nothing is saved (never a change Jira cannot know of).
    standin.fail_next = [400]
    before = Checklist.objects.get().version
    with pytest.raises(Exception) as refused:
        write(tenant, "- [x] one\n- [x] two\n")
    assert getattr(refused.value, "status", None) == 503
    assert Checklist.objects.get().version == before


def _webhook(client, standin, path, body, *, secret=None):
    token = connect_token(
        secret=secret or standin.shared_secret, client_key=standin.client_key, method="POST", path=path, account_id=None
    )
    return client.post(path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


def test_webhooks_and_triggers_refuse_forged_garbage_and_other_sites(client, tenant, standin, other_tenant, settings):
    issue = {"id": "10001", "key": "DEMO-1", "fields": {"project": {"id": "10000"}, "issuetype": {"id": "10002"}}}
    path = "/connect/webhooks/issue-created"
    assert _webhook(client, standin, path, {"issue": issue}, secret="forged-" + "x" * 40).status_code == 401
    assert _webhook(client, standin, path, {"issue": {"id": "1; drop"}}).status_code == 400
    assert _webhook(client, standin, path, ["not", "an", "object"]).status_code == 400
    assert _webhook(client, standin, path, {"issue": {**issue, "key": "x" * 5000}}).status_code == 204  # key dropped
    bad = {"issue": issue, "configuration": {"value": '{"action": "explode"}'}}
    assert _webhook(client, standin, "/workflow/post-function", bad).status_code == 400
    # A template of another site named in a post function: nothing happens to this site's checklist.
    theirs = Template.objects.create(tenant=other_tenant, name="theirs", text="- [ ] secret step\n")
    config = json.dumps({"action": "apply-template", "templateId": str(theirs.id)})
    body = {"issue": issue, "configuration": {"value": config}}
    assert _webhook(client, standin, "/workflow/post-function", body).status_code == 204
    assert not ChecklistItem.objects.filter(tenant=tenant).exists()
    # Forge: a FIT from another module, or expired, is refused.
    settings.FORGE_APP_ID = "ari:cloud:ecosystem::app/test"
    fit = forge_token(
        standin.forge_keys, app_id=settings.FORGE_APP_ID, installation_id="inst-1", module_key="herochecklist-panel"
    )
    assert (
        client.post(
            "/forge/events/issue-created",
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {fit}",
        ).status_code
        == 401
    )
    expired = forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id="inst-1",
        module_key="herochecklist-issue-created",
        ttl=-600,
    )
    assert (
        client.post(
            "/forge/events/issue-created",
            data="{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {expired}",
        ).status_code
        == 401
    )


def test_the_config_page_turns_the_guard_on_and_names_sections_by_keyed_hash(client, tenant, standin):
    from urllib.parse import urlencode

    query = [("rule", "validator"), ("page", "create")]
    token = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, path="/workflow/config", query=query
    )
    page = client.get(f"/workflow/config?{urlencode(query)}&jwt={token}")
    assert page.status_code == 200
    tenant.refresh_from_db()
    assert tenant.workflow_rules_in_use  # from now on each write marks the property pending first
    config = json.loads(
        page.content.decode()
        .split('id="herochecklist-workflow-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    answer = client.post(
        "/workflow/section-key",
        data=json.dumps({"token": config["token"], "header": "Release"}),
        content_type="application/json",
    )
    assert answer.json() == {"key": section_key(tenant.id, "release")}
    forged = client.post(
        "/workflow/section-key",
        data=json.dumps({"token": "x" + config["token"], "header": "R"}),
        content_type="application/json",
    )
    assert forged.status_code == 401
    long = client.post(
        "/workflow/section-key",
        data=json.dumps({"token": config["token"], "header": "x" * 3000}),
        content_type="application/json",
    )
    assert long.status_code == 400
    assert client.get(f"/workflow/config?{urlencode(query)}").status_code == 401  # no JWT


@pytest.mark.parametrize("rule", ["validator", "condition", "postfunction"])
@pytest.mark.parametrize(
    "saved",
    [
        "{not json",
        "[" * 1000 + "]" * 1000,
        '{"mode": ["required"]}',
        '{"mode": {"a": 1}}',
        '{"mode": 7}',
        '{"action": ["reset-statuses"], "mode": {"a": 1}}',
        '["required"]',
    ],
)
def test_a_config_page_with_a_garbage_saved_config_shows_the_default(client, tenant, standin, rule, saved):
    from urllib.parse import urlencode

    query = [("rule", rule), ("page", "edit"), ("config", saved)]
    token = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, path="/workflow/config", query=query
    )
    page = client.get(f"/workflow/config?{urlencode(query)}&jwt={token}")
    assert page.status_code == 200
    config = json.loads(
        page.content.decode()
        .split('id="herochecklist-workflow-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert config["saved"] == ({"action": "reset"} if rule == "postfunction" else {"mode": "required"})


def test_a_forge_site_gets_its_checklist_at_creation_through_the_trigger(client, standin, settings):

    settings.FORGE_APP_ID = "ari:cloud:ecosystem::app/test"
    fit = forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id="inst-9",
        module_key="herochecklist-issue-created",
        principal=None,
        api_base_url=standin.base_url,
    )
    standin.system_tokens.add("system-token-9")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {fit}", "HTTP_X_FORGE_OAUTH_SYSTEM": "system-token-9"}
    # The first call from an installation creates its site (as the lifecycle trigger would); then a template.
    event = {
        "eventType": "avi:jira:created:issue",
        "issue": {"id": "30001", "key": "FRG-1", "fields": {"project": {"id": "10000"}, "issuetype": {"id": "10002"}}},
    }
    first = client.post(
        "/forge/events/issue-created", data=json.dumps(event), content_type="application/json", **headers
    )
    assert first.status_code == 204
    tenant = Tenant.objects.get(installation_id="inst-9")
    Template.objects.create(tenant=tenant, name="t", text="- [ ] step\n", auto_apply=True)
    event["issue"]["id"] = "30002"
    again = client.post(
        "/forge/events/issue-created", data=json.dumps(event), content_type="application/json", **headers
    )
    assert again.status_code == 204
    checklist = Checklist.objects.get(tenant=tenant, issue_id="30002")
    assert list(checklist.items.values_list("text", "created_by")) == [("step", "app")]
    assert standin.property("30002", "herochecklist-progress")["total"] == 1


def test_a_clone_link_made_after_creation_replaces_only_what_the_app_wrote(client, tenant, standin):
    write(tenant, "- [x] alpha\n- [ ] beta\n")  # the source, DEMO-1
    Template.objects.create(tenant=tenant, name="t", text="- [ ] from the template\n", auto_apply=True)
    created = {"id": "10077", "key": "DEMO-77", "fields": {"project": {"id": "10000"}, "issuetype": {"id": "10002"}}}
    assert _webhook(client, standin, "/connect/webhooks/issue-created", {"issue": created}).status_code == 204
    assert list(ChecklistItem.objects.filter(checklist__issue_id="10077").values_list("text", flat=True)) == [
        "from the template"
    ]
    link = {"sourceIssueId": "10077", "destinationIssueId": "10001", "issueLinkType": {"name": "Cloners"}}
    path = "/connect/webhooks/issuelink-created"
    assert (
        _webhook(client, standin, path, {"issueLink": {**link, "issueLinkType": {"name": "Blocks"}}}).status_code == 204
    )
    assert _webhook(client, standin, path, {"issueLink": {**link, "sourceIssueId": "x"}}).status_code == 400
    assert _webhook(client, standin, path, {"issueLink": link}).status_code == 204
    rows = ChecklistItem.objects.filter(checklist__issue_id="10077").order_by("position")
    assert list(rows.values_list("text", "status")) == [("alpha", "todo"), ("beta", "todo")]
    # Once a person has edited the clone's checklist, a late link changes nothing.
    write(tenant, "- [ ] mine\n", issue={"id": "10077", "key": "DEMO-77", "projectId": "10000", "typeId": "10002"})
    assert _webhook(client, standin, path, {"issueLink": link}).status_code == 204
    assert list(ChecklistItem.objects.filter(checklist__issue_id="10077").values_list("text", flat=True)) == ["mine"]
    # issue_updated garbage is refused, a real one is one update.
    assert _webhook(client, standin, "/connect/webhooks/issue-updated", {"issue": None}).status_code == 400


def test_site_admins_set_the_workflow_settings_others_only_read_them(client, tenant, standin, other_tenant):
    from tests.conftest import Api

    bob, alice = (
        Api(client, tenant, account_id="557058:devhost-bob"),
        Api(client, tenant, account_id="557058:devhost-alice"),
    )
    assert client.get("/api/v1/settings/workflow", HTTP_AUTHORIZATION=bob.authorization).json() == {
        "rulesInUse": False,
        "cloneKeepsStatuses": False,
    }
    assert bob.call("put", "/api/v1/settings/workflow", {"cloneKeepsStatuses": True}).status_code == 403
    answer = alice.call("put", "/api/v1/settings/workflow", {"cloneKeepsStatuses": True})
    assert answer.status_code == 200 and answer.json() == {"rulesInUse": False, "cloneKeepsStatuses": True}
    assert alice.call("put", "/api/v1/settings/workflow", {"cloneKeepsStatuses": "yes"}).status_code == 422
    assert alice.call("put", "/api/v1/settings/workflow", {"tenant": str(other_tenant.id)}).status_code == 422
    assert alice.call("put", "/api/v1/settings/workflow", b"\xff", raw=True).status_code == 400
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert tenant.clone_keeps_statuses and not other_tenant.clone_keeps_statuses


def test_a_site_status_that_counts_as_done_closes_a_section_as_the_progress_counts_it(tenant):
    SiteStatus.objects.create(tenant=tenant, key="shipped", name="Shipped", color="#36b37e", counts_as_done=True)
    SiteStatus.objects.create(tenant=tenant, key="review", name="In review", color="#6554c0", counts_as_done=False)
    checklist = write(tenant, "## Release steps\n- [shipped] tag\n- [x] build\n## Later\n- [review] announce\n")
    counts = rule_counts(checklist)
    assert counts["sections"] == {section_key(tenant.id, "Release steps"): 0, section_key(tenant.id, "Later"): 1}
    assert (
        Checklist.objects.get().mandatory_open_count == 1
    )  # the same verdict as the progress: only "announce" is open
