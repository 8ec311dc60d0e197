import time

import pytest
from django.test import RequestFactory

from devhost.keys import KeyPair, forge_token
from tenants.auth import AuthError, authenticate_api_request
from tenants.models import Tenant, TenantState
from tests.conftest import answer_at_once, forge_api, forge_installed, signed_install

pytestmark = pytest.mark.django_db

INSTALLATION = "ari:cloud:ecosystem::installation/5e3b7a9c-0000-4000-8000-000000000001"


def api_request(token: str, **headers):
    return RequestFactory().get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}", **headers)


def fit(standin, settings, **overrides):
    return forge_token(standin.forge_keys, app_id=settings.FORGE_APP_ID, installation_id=INSTALLATION, **overrides)


def test_a_valid_fit_creates_the_tenant_on_first_sight(standin, settings):
    issue = {"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"}
    auth = authenticate_api_request(api_request(fit(standin, settings, issue=issue)))
    assert auth.source == "forge"
    assert auth.account_id == "557058:forge-user"
    assert auth.tenant.installation_id == INSTALLATION
    assert auth.tenant.client_key == f"forge:{INSTALLATION}"
    assert auth.issue.id == "10001" and auth.issue.project_id == "10000"
    # Second call: same tenant, not a new one.
    authenticate_api_request(api_request(fit(standin, settings)))
    assert Tenant.objects.filter(installation_id=INSTALLATION).count() == 1


def test_the_system_token_is_kept_encrypted_for_background_calls(client, standin, settings):
    system_token = "forge-system-token-" + "q" * 40
    forge_installed(client, standin, settings, system_token, installation=INSTALLATION)
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    assert system_token not in tenant.forge_system_token_encrypted
    assert tenant.forge_system_token() == system_token


def test_a_connect_install_carrying_the_installation_id_links_to_forge(client, standin, settings):
    standin.shared_secret = "connect-secret-" + "c" * 40
    assert (
        signed_install(client, standin, payload=standin.installed_payload(installationId=INSTALLATION)).status_code
        == 204
    )
    auth = authenticate_api_request(api_request(fit(standin, settings)))
    assert auth.tenant.client_key == standin.client_key
    assert Tenant.objects.count() == 1


def test_a_forge_tenant_seen_first_is_adopted_by_the_connect_install(client, standin, settings):
    forge_tenant = authenticate_api_request(api_request(fit(standin, settings))).tenant
    standin.shared_secret = "connect-secret-" + "d" * 40
    assert (
        signed_install(client, standin, payload=standin.installed_payload(installationId=INSTALLATION)).status_code
        == 204
    )
    assert Tenant.objects.count() == 1
    assert Tenant.objects.get().id == forge_tenant.id
    assert Tenant.objects.get().client_key == standin.client_key


def test_an_unknown_kid_triggers_one_jwks_refresh(standin, settings):
    settings.FORGE_JWKS_REFRESH_COOLDOWN_SECONDS = 0
    authenticate_api_request(api_request(fit(standin, settings)))
    standin.forge_keys = KeyPair()  # Atlassian rotated its signing key
    auth = authenticate_api_request(api_request(fit(standin, settings)))
    assert auth.tenant.installation_id == INSTALLATION


@pytest.mark.parametrize(
    "attack",
    [
        "wrong_aud",
        "wrong_issuer",
        "expired",
        "not_yet_valid",
        "foreign_key",
        "no_installation",
        "no_principal",
        "garbage",
    ],
)
def test_forged_fits_are_rejected(standin, settings, attack):
    now = int(time.time())
    if attack == "wrong_aud":
        token = fit(standin, settings, aud="ari:cloud:ecosystem::app/someone-else")
    elif attack == "wrong_issuer":
        token = fit(standin, settings, iss="forge/something-else")
    elif attack == "expired":
        token = fit(standin, settings, iat=now - 3600, nbf=now - 3600, exp=now - 600)
    elif attack == "not_yet_valid":
        token = fit(standin, settings, nbf=now + 3600, exp=now + 7200)
    elif attack == "foreign_key":
        token = forge_token(
            KeyPair(kid=standin.forge_keys.kid), app_id=settings.FORGE_APP_ID, installation_id=INSTALLATION
        )
    elif attack == "no_installation":
        token = fit(standin, settings, app={"id": settings.FORGE_APP_ID})
    elif attack == "no_principal":
        token = fit(standin, settings, principal=None)
    else:
        token = "eyJhbGciOiJSUzI1NiJ9.garbage.sig"
    with pytest.raises(AuthError):
        authenticate_api_request(api_request(token))
    assert not Tenant.objects.exists()


def test_a_fit_for_an_uninstalled_tenant_is_rejected(standin, settings):
    tenant = authenticate_api_request(api_request(fit(standin, settings))).tenant
    Tenant.objects.filter(id=tenant.id).update(state=TenantState.UNINSTALLED)
    with pytest.raises(AuthError):
        authenticate_api_request(api_request(fit(standin, settings)))


def test_a_jwks_trickling_its_answer_refuses_the_call_at_the_deadline(client, standin, settings, trickle):
    settings.FORGE_JWKS_URL = trickle.base_url
    response = forge_api(client, standin, settings).add("x")
    assert response.status_code == 401 and "error" in response.json()
    assert trickle.ended() == ["client"]  # OUTBOUND_KEYS_DEADLINE_SECONDS ended it, not the server's 15 s
    assert not Tenant.objects.exists()


@pytest.mark.parametrize(
    "answer", [b"[" * 5000 + b"]" * 5000, b'{"keys": ' + b"[" * 5000 + b"]" * 5000 + b"}", b"{not json", b"[]"]
)
def test_a_jwks_answer_that_is_not_a_key_set_refuses_the_call(client, standin, settings, trickle, answer):
    # Nested thousands deep: PyJWT's own json.load raised RecursionError, a 500.
    settings.FORGE_JWKS_URL = trickle.base_url
    answer_at_once(trickle, settings, answer)
    response = forge_api(client, standin, settings).add("x")
    assert response.status_code == 401 and "error" in response.json()
    assert not Tenant.objects.exists()
