"""Site API tokens: created and revoked by Jira admins, shown once, stored hashed, scoped, audited, rate limited."""

import hashlib

import pytest

from checklists import automation
from checklists.models import Checklist, Template
from devhost.keys import connect_token
from tenants.auth.site_token import verify_site_token
from tenants.models import SiteToken, SiteTokenUse, TenantState
from tenants.qsh import CONTEXT_QSH
from tenants.site_tokens import site_token_create

pytestmark = pytest.mark.django_db

ADMIN = "557058:alice"
EDITOR = "557058:bob"
ITEMS = "/api/v1/issues/10001/checklist/items"


def context_jwt(standin, tenant, account_id):
    """What the admin page's AP.context.getToken() gives: a Connect context JWT with no issue."""
    token = connect_token(
        secret=tenant.shared_secret, client_key=tenant.client_key, account_id=account_id, qsh=CONTEXT_QSH, ttl=600
    )
    return f"JWT {token}"


@pytest.fixture
def admin(standin, tenant):
    standin.grant(ADMIN, "admin")
    return context_jwt(standin, tenant, ADMIN)


def create(client, authorization, **body):
    body = {"name": "Automation", "scope": "write", **body}
    return client.post(
        "/api/v1/site-tokens", data=body, content_type="application/json", HTTP_AUTHORIZATION=authorization
    )


def call(client, token, method="get", path="/api/v1/issues/10001/checklist", data=None):
    kwargs = {"data": data, "content_type": "application/json"} if data is not None else {}
    return getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {token}", **kwargs)


def test_created_shown_once_stored_hashed_used_audited_and_revoked(client, admin, tenant):
    created = create(client, admin)
    assert created.status_code == 201, created.content
    token = created.json()["token"]
    assert token.startswith("hc_") and len(token) == 59
    row = SiteToken.objects.get(id=created.json()["id"])
    # Only the SHA-256 is kept: no column of the row or of its audit holds the token or its secret part.
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    secret = token.rsplit("_", 1)[1]
    stored = [*SiteToken.objects.values_list(), *SiteTokenUse.objects.values_list()]
    assert not [value for values in stored for value in values if isinstance(value, str) and secret in value]
    listed = client.get("/api/v1/site-tokens", HTTP_AUTHORIZATION=admin).json()
    assert [t["prefix"] for t in listed] == [f"hc_{row.prefix}"] and "token" not in listed[0]

    added = call(client, token, "post", ITEMS, {"text": "from Automation"})
    assert added.status_code == 201, added.content
    history = call(client, token, path="/api/v1/issues/10001/checklist/history").json()
    assert history[0]["actorAccountId"] == f"app:token:{row.prefix}"

    uses = client.get(f"/api/v1/site-tokens/{row.id}/uses", HTTP_AUTHORIZATION=admin).json()
    assert [u["action"] for u in uses] == [
        "GET /api/v1/issues/<issue_id>/checklist/history",
        "POST /api/v1/issues/<issue_id>/checklist/items",
        "token created",
    ]
    assert {u["actor"] for u in uses[:2]} == {f"app:token:{row.prefix}"} and uses[2]["actor"] == ADMIN

    revoked = client.delete(f"/api/v1/site-tokens/{row.id}", HTTP_AUTHORIZATION=admin)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert call(client, token).status_code == 401
    assert SiteTokenUse.objects.filter(token=row, action="token revoked", actor=ADMIN).count() == 1


def test_a_read_token_reads_but_cannot_write(client, admin):
    token = create(client, admin, scope="read").json()["token"]
    assert call(client, token).status_code == 200
    refused = call(client, token, "post", ITEMS, {"text": "nope"})
    assert refused.status_code == 403
    assert call(client, token).json()["items"] == []


def test_a_read_token_writes_nothing_not_even_an_auto_applied_template(client, tenant, standin):
    """A read token names any issue id, and Jira is never asked whether it exists: the first read of an issue
    applying the site's auto-apply template would let it create a checklist (and a property push to Jira) for every
    number it tries. It reads such an issue as the contract's empty checklist; the MCP read and the automation read
    (by key) likewise."""
    Template.objects.create(tenant=tenant, name="Everyone", text="- [ ] step", auto_apply=True)
    _, token = site_token_create(tenant=tenant, name="Reader", scope="read", created_by=ADMIN)
    read = call(client, token, path="/api/v1/issues/98765/checklist")
    assert read.status_code == 200 and (read.json()["items"], read.json()["version"]) == ([], 0)
    text = call(client, token, path="/api/v1/issues/98766/checklist/text")
    assert text.status_code == 200 and text.content == b""
    _issue, by_key = automation.checklist_read(verify_site_token(token), "DEMO-1")  # the MCP tool read_checklist
    assert by_key is None
    assert not Checklist.objects.filter(tenant=tenant).exists()
    assert [r for r in standin.recorded if r.method == "PUT"] == []
    # A write token may write, so its first read applies the template as the panel's does.
    _, writer = site_token_create(tenant=tenant, name="Writer", scope="write", created_by=ADMIN)
    assert [i["text"] for i in call(client, writer, path="/api/v1/issues/98765/checklist").json()["items"]] == ["step"]


def test_forged_malformed_and_unknown_tokens_are_401(client, admin):
    token = create(client, admin).json()["token"]
    prefix, secret = token[:16], token[17:]
    forged = f"{prefix}_{'A' * len(secret)}"
    for bad in (forged, "hc_", "hc_" + "0" * 12 + "_" + secret, token + "x", token.upper(), "hc_\u00e9" * 10):
        response = call(client, bad)
        assert response.status_code == 401, bad
        assert response.json() == {"error": "unauthorized", "detail": "Authentication failed."}
    assert SiteTokenUse.objects.exclude(action="token created").count() == 0


def test_another_sites_token_sees_only_its_site_and_dies_with_its_uninstall(client, admin, tenant, other_tenant):
    assert call(client, create(client, admin).json()["token"], "post", ITEMS, {"text": "site A"}).status_code == 201
    _, other = site_token_create(tenant=other_tenant, name="B", scope="write", created_by="557058:charlie")
    assert call(client, other).json()["items"] == []  # B's checklist of that issue id: empty, A's is not reached
    other_row = SiteToken.objects.get(tenant=other_tenant)
    assert client.delete(f"/api/v1/site-tokens/{other_row.id}", HTTP_AUTHORIZATION=admin).status_code == 404
    other_tenant.state = TenantState.UNINSTALLED
    other_tenant.save()
    assert call(client, other).status_code == 401


def test_only_jira_admins_manage_tokens_and_never_a_token(client, admin, standin, tenant):
    standin.grant(EDITOR, "edit")
    editor = context_jwt(standin, tenant, EDITOR)
    assert create(client, editor).status_code == 403
    assert client.get("/api/v1/site-tokens", HTTP_AUTHORIZATION=editor).status_code == 403
    token = create(client, admin).json()["token"]
    assert create(client, f"Bearer {token}").status_code == 403
    row = SiteToken.objects.get()
    assert call(client, token, "delete", f"/api/v1/site-tokens/{row.id}").status_code == 403
    assert SiteToken.objects.get().revoked_at is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "x\u0000y"}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "   "}, "name"),
        ({"scope": "admin"}, "scope"),
        ({"scope": True}, "scope"),
        ({"extra": 1}, "extra"),
    ],
)
def test_garbage_token_requests_are_422(client, admin, body, field):
    response = create(client, admin, **body)
    assert response.status_code == 422, response.content
    assert field in response.json()["fields"]
    assert not SiteToken.objects.exists()


def test_tokens_are_rate_limited_like_the_panel(client, admin, settings):
    token = create(client, admin).json()["token"]
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    statuses = [call(client, token).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("scope", ["write", "read"])
def test_a_site_token_finds_nothing_of_another_site(client, admin, tenant, other_tenant, scope):
    """Another site's items, templates, statuses and tokens are not there for a token (404), never 403: a refusal
    would say that the thing exists."""
    from checklists.models import Checklist, ChecklistItem, SiteStatus, Template

    checklist = Checklist.objects.create(tenant=other_tenant, issue_id="10001", issue_key="B-1")
    item = ChecklistItem.objects.create(tenant=other_tenant, checklist=checklist, text="B's secret step")
    template = Template.objects.create(tenant=other_tenant, name="B's template", text="- [ ] b\n")
    SiteStatus.objects.create(tenant=other_tenant, key="shipped", name="Shipped", color="#36b37e")
    theirs, _ = site_token_create(tenant=other_tenant, name="B", scope="write", created_by="557058:charlie")
    token = create(client, admin, scope=scope).json()["token"]
    item_path = f"{ITEMS}/{item.id}"
    for method, path, data in [
        ("patch", item_path, {"status": "done"}),
        ("delete", item_path, None),
        ("get", f"/api/v1/templates/{template.id}", None),
        ("patch", f"/api/v1/templates/{template.id}", {"name": "mine"}),
        ("delete", f"/api/v1/templates/{template.id}", None),
        ("post", "/api/v1/issues/10001/checklist/apply-template", {"templateId": str(template.id), "mode": "append"}),
        ("patch", "/api/v1/statuses/shipped", {"name": "Mine"}),
        ("delete", "/api/v1/statuses/shipped", None),
        ("delete", f"/api/v1/site-tokens/{theirs.id}", None),
        ("get", f"/api/v1/site-tokens/{theirs.id}/uses", None),
    ]:
        response = call(client, token, method, path, data)
        assert response.status_code == 404, (method, path, response.status_code, response.content)
        assert response.json() == {"error": "not_found"}
    assert ChecklistItem.objects.get(id=item.id).status == "todo"
    assert Template.objects.filter(id=template.id).exists() and SiteStatus.objects.filter(key="shipped").exists()
    assert SiteToken.objects.get(id=theirs.id).revoked_at is None
