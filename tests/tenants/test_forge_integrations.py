"""The integrations of issue #18 on a Forge-only site: the admin page module creates a site token, the token drives
the Automation calls (keys resolved with the app's system token), the portal module reads the shared items."""

import pytest

from tests.conftest import fit, forge_installed

pytestmark = pytest.mark.django_db

# The /api/v1 paths Forge reaches besides the issue panel's (test_forge_app.py checks the document lists no other).
FORGE_INTEGRATION_PATHS = {
    "/site-tokens",
    "/site-tokens/{token_id}",
    "/site-tokens/{token_id}/uses",
    "/automation/issues/{issue_key}/items",
    "/automation/issues/{issue_key}/items/status",
    "/automation/issues/{issue_key}/apply-template",
    "/portal/checklist",
}
SYSTEM = "forge-system-token-integrations"
PORTAL_CONTEXT = {
    "cloudId": "cloud-forge",
    "siteUrl": "https://forge-site.atlassian.net",
    "extension": {"request": {"key": "DEMO-1", "typeId": "1"}, "portal": {"id": "1"}},
}


def forge_call(client, standin, settings, method, path, body=None, *, module_key, user="557058:forge-admin", **kw):
    token = fit(standin, settings, issue=None, module_key=module_key, principal=user or "557058:forge-user", **kw)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    if user:
        headers["HTTP_X_FORGE_OAUTH_USER"] = standin.user_token(user)
    data = {"data": body, "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(f"/api/v1{path}", **data, **headers)


def test_admin_page_token_automation_and_portal_on_a_forge_site(client, standin, settings):
    standin.system_tokens.add(SYSTEM)
    forge_installed(client, standin, settings, SYSTEM)  # the app's token for key lookups and the portal's read
    standin.grant("557058:forge-admin", "admin")
    standin.grant("557058:forge-agent", "edit")

    def admin(method, path, body=None, user="557058:forge-admin"):
        return forge_call(
            client, standin, settings, method, path, body, module_key="herochecklist-api-tokens", user=user
        )

    assert admin("post", "/site-tokens", {"name": "x", "scope": "write"}, user="557058:forge-agent").status_code == 403
    created = admin("post", "/site-tokens", {"name": "Automation", "scope": "write"})
    assert created.status_code == 201, created.content
    token, token_id = created.json()["token"], created.json()["id"]
    assert [t["id"] for t in admin("get", "/site-tokens").json()] == [token_id]

    def automation(path, body):
        return client.post(
            f"/api/v1/automation/issues/DEMO-1/{path}",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    assert automation("items", {"text": "shared {customer}\ninternal"}).status_code == 200
    assert automation("items/status", {"item": "shared", "status": "done"}).json()["status"] == "done"
    assert automation("apply-template", {"template": "none"}).status_code == 404

    portal = forge_call(
        client, standin, settings, "get", "/portal/checklist", module_key="herochecklist-portal", context=PORTAL_CONTEXT
    )
    assert portal.status_code == 200, portal.content
    assert [(i["text"], i["status"]) for i in portal.json()["items"]] == [("shared", "done")]
    # The admin page's FIT opens the token routes only, the portal's only its read.
    assert admin("get", "/portal/checklist").status_code == 401
    assert admin("get", "/issues/10001/checklist").status_code == 401

    uses = admin("get", f"/site-tokens/{token_id}/uses").json()
    assert [u["action"].split(" ")[0] for u in uses] == ["POST", "POST", "POST", "token"]
    assert admin("delete", f"/site-tokens/{token_id}").json()["revokedAt"]
    assert automation("items", {"text": "after revoke"}).status_code == 401
