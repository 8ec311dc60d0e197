"""Forge users' rights when no user token comes: how our Custom UI calls in production.

@forge/bridge's requestRemote is not proxied by Forge and carries no OAuth token (only the FIT), so Jira is asked as
the app, with the site's stored system token, about the FIT's principal (POST /rest/api/3/permissions/check). The
stand-in Jira (devhost/jira.py) answers that call as Jira does, and refuses it (403) when the app user lacks
Administer Jira (`forge_app_administers`). A browser can put any x-forge-oauth-user header on the call: a token of
another account must lend no rights.
"""

import json
import secrets

import pytest
from django.core.cache import cache

from tenants import permissions
from tenants.models import Tenant
from tests.conftest import INSTALLATION, ISSUE, Api, fit, forge_installed, signed_install

pytestmark = pytest.mark.django_db

ADMIN, EDITOR, VIEWER = "557058:forge-admin", "557058:forge-bob", "557058:forge-carol"
SYSTEM = "forge-system-token-permissions"


@pytest.fixture(autouse=True)
def people(standin):
    standin.default_role = "none"  # nobody has a right this module did not give
    standin.grant(ADMIN, "admin")
    standin.grant(EDITOR, "edit")
    standin.grant(VIEWER, "browse")
    standin.system_tokens.add(SYSTEM)
    return standin


def panel(client, standin, settings, principal, user_token=None):
    """The issue panel as requestRemote calls: the FIT only, or with an x-forge-oauth-user header a browser added."""
    headers = {"HTTP_X_FORGE_OAUTH_USER": user_token} if user_token else {}
    return Api(client, None, authorization="Bearer " + fit(standin, settings, principal=principal), headers=headers)


def admin_page(client, standin, settings, principal):
    token = fit(standin, settings, principal=principal, issue=None, module_key="herochecklist-templates-admin")
    return Api(client, None, authorization=f"Bearer {token}")


def asked(standin) -> list[tuple[str, str, bool]]:
    """The permission checks Jira saw: (method, accountId asked about, whether Jira knew the caller)."""
    return [(c.method, (c.body or {}).get("accountId", ""), c.authorization_ok) for c in standin.permission_checks]


def refused_unanswered(response) -> bool:
    return (
        response.status_code == 403
        and response.json()["error"] == "forbidden"
        and response.json()["jiraAnswered"] is False
    )


def test_a_forge_editor_without_a_user_token_edits_and_a_browse_only_user_reads(client, standin, settings):
    forge_installed(client, standin, settings, SYSTEM)
    bob = panel(client, standin, settings, EDITOR)
    assert bob.get().json()["permissions"]["edit"] is True
    item = bob.add("Tag the release")
    assert item.status_code == 201, item.content
    assert bob.patch(item.json()["id"], status="done").status_code == 200
    assert asked(standin)[0] == ("POST", EDITOR, True)  # as the app (system token), about the FIT's principal

    carol = panel(client, standin, settings, VIEWER)
    assert carol.get().json()["permissions"]["edit"] is False
    refused = carol.patch(item.json()["id"], text="sneaky")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert "jiraAnswered" not in refused.json()  # Jira answered: a missing right, not an outage
    assert ("POST", VIEWER, True) in asked(standin)


def test_a_jira_admin_without_a_user_token_creates_a_site_wide_template(client, standin, settings):
    forge_installed(client, standin, settings, SYSTEM)
    body = {"name": "Release", "text": "- [ ] Tag\n"}
    assert admin_page(client, standin, settings, EDITOR).call("post", "/api/v1/templates", body).status_code == 403
    created = admin_page(client, standin, settings, ADMIN).call("post", "/api/v1/templates", body)
    assert created.status_code == 201, created.content
    assert ("POST", ADMIN, True) in asked(standin)


def cached_grants(principal: str, issue_id: str = ISSUE["id"]):
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    return cache.get(permissions._cache_key(tenant.id, principal, "issue", issue_id))


def test_without_a_system_token_stored_writes_are_refused_until_the_lifecycle_brings_one(client, standin, settings):
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 30
    bob = panel(client, standin, settings, EDITOR)
    assert refused_unanswered(bob.add("no way to ask Jira"))
    assert standin.permission_checks == []  # nothing to ask with: Jira is not called
    assert cached_grants(EDITOR)["answered"] is False and not any(cached_grants(EDITOR)["flags"])

    forge_installed(client, standin, settings, SYSTEM)  # Forge's lifecycle trigger delivers the site's system token
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 0  # the unanswered entry has aged out
    assert bob.add("now Jira is asked").status_code == 201
    assert asked(standin) == [("POST", EDITOR, True)]


def test_when_jira_refuses_the_app_writes_are_refused_and_nothing_is_cached_as_granted(client, standin, settings):
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 30
    forge_installed(client, standin, settings, SYSTEM)
    standin.forge_app_administers = False  # the app user lacks Administer Jira: Jira answers 403
    bob = panel(client, standin, settings, EDITOR)
    assert refused_unanswered(bob.add("refused"))
    template = {"name": "Release", "text": "- [ ] Tag\n"}
    assert refused_unanswered(admin_page(client, standin, settings, ADMIN).call("post", "/api/v1/templates", template))
    assert asked(standin)[0] == ("POST", EDITOR, True)
    assert cached_grants(EDITOR)["answered"] is False and not any(cached_grants(EDITOR)["flags"])
    assert bob.get().json()["permissions"]["edit"] is False

    standin.forge_app_administers = True  # the control: the refusal was the only thing in the way
    settings.PERMISSION_FAILURE_CACHE_SECONDS = 0
    assert bob.add("allowed").status_code == 201


def test_a_user_token_of_another_account_is_not_used(client, standin, settings):
    forge_installed(client, standin, settings, SYSTEM)
    carol_with_admins_token = panel(client, standin, settings, VIEWER, user_token=standin.user_token(ADMIN))
    refused = carol_with_admins_token.add("borrowed rights")
    assert refused.status_code == 403 and "jiraAnswered" not in refused.json()
    token = fit(standin, settings, principal=VIEWER, issue=None, module_key="herochecklist-templates-admin")
    template = client.post(
        "/api/v1/templates",
        data=json.dumps({"name": "Release", "text": "- [ ] Tag\n"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_FORGE_OAUTH_USER=standin.user_token(ADMIN),
    )
    assert template.status_code == 403
    # Only permissions/check, as the app, about Carol: her grants, never Jira's answer for the admin's token.
    assert {check for check in asked(standin)} == {("POST", VIEWER, True)}


def test_the_principals_own_token_is_used_and_a_lookalike_sub_is_not(client, standin, settings):
    # No system token: only the user's own token can grant anything here. The form of `sub` in Forge user tokens is
    # not documented: the bare accountId and a URN ending in `:<accountId>` are taken, a mere substring is not.
    forms = {
        EDITOR: 201,
        f"urn:atlassian:connect:useraccountid:{EDITOR}": 201,
        f"evil{EDITOR}": 403,
        f"{EDITOR}:evil": 403,
        "": 403,
    }
    settings.PERMISSION_CACHE_SECONDS = settings.PERMISSION_FAILURE_CACHE_SECONDS = 0  # each form is asked afresh
    answers = {}
    for sub in forms:
        bob = panel(client, standin, settings, EDITOR, user_token=standin.user_token(EDITOR, sub=sub))
        answers[sub] = bob.add(f"sub {sub!r}").status_code
    assert answers == forms
    assert {c[0] for c in asked(standin)} == {"GET"}  # mypermissions with the user's token, twice
    assert len(standin.permission_checks) == 2


def test_a_connect_site_on_forge_asks_with_its_connect_jwt_without_any_system_token(client, standin, settings):
    # A Connect app adopting Forge: one tenant, its Connect credentials and Forge's installationId. Atlassian documents
    # that a Connect app's server may check any user's permissions, so no system token (nor its unconfirmed Administer
    # Jira) is needed here.
    standin.shared_secret = secrets.token_urlsafe(48)
    payload = standin.installed_payload(installationId=INSTALLATION, sharedSecret=standin.shared_secret)
    assert signed_install(client, standin, payload=payload).status_code == 204
    standin.forge_app_administers = False  # the system token, were it used, would be refused
    bob, carol = panel(client, standin, settings, EDITOR), panel(client, standin, settings, VIEWER)
    assert bob.add("asked with the Connect JWT").status_code == 201
    assert carol.add("browse only").status_code == 403
    assert asked(standin) == [("POST", EDITOR, True), ("POST", VIEWER, True)]
    assert not Tenant.objects.get(installation_id=INSTALLATION).forge_system_token()
