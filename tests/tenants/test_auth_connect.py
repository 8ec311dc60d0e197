import time

import jwt
import pytest
from atlassian_jwt import encode_token
from django.conf import settings

from devhost.keys import KeyPair, connect_token, install_token
from tenants.auth import install
from tenants.models import Tenant, TenantState
from tenants.qsh import CONTEXT_QSH, query_string_hash
from tests.conftest import signed_install

pytestmark = pytest.mark.django_db


def post_with_jwt(client, path, token, data=None):
    return client.post(path, data=data or {}, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


def test_descriptor_is_built_from_settings(client, settings):
    settings.BASE_URL = "https://checklist.example.org"
    settings.APP_KEY = "org.example.checklist"
    body = client.get("/atlassian-connect.json").json()
    assert body["baseUrl"] == "https://checklist.example.org"
    assert body["key"] == "org.example.checklist"
    assert body["authentication"] == {"type": "jwt"}
    assert body["apiMigrations"] == {"signed-install": True, "context-qsh": True, "gdpr": True}
    assert body["lifecycle"]["installed"] == "/connect/installed"
    assert body["modules"]["jiraIssueContents"][0]["target"]["url"].startswith("/connect/panel?")
    aliases = {e["alias"] for e in body["modules"]["jiraEntityProperties"][0]["keyConfigurations"][0]["extractions"]}
    assert {"checklistDone", "checklistTotal", "checklistPercent", "checklistComplete"} <= aliases
    assert {"event": "jira:issue_deleted", "url": "/connect/webhooks/issue-deleted"} in body["modules"]["webhooks"]
    # The template manager: a project settings tab and a site admin page, both our one page; the site's API tokens
    # have the other admin page.
    assert body["modules"]["jiraProjectAdminTabPanels"][0]["url"] == "/connect/templates?projectId={project.id}"
    assert [p["url"] for p in body["modules"]["adminPages"]] == ["/connect/templates", "/connect/admin/api-tokens"]


def test_signed_install_creates_the_tenant_with_an_encrypted_secret(tenant, standin):
    assert tenant.base_url == standin.base_url
    assert tenant.state == TenantState.INSTALLED
    assert standin.shared_secret not in tenant.shared_secret_encrypted
    assert tenant.shared_secret == standin.shared_secret


def test_install_is_an_idempotent_upsert(client, tenant, standin):
    assert signed_install(client, standin).status_code == 204
    assert signed_install(client, standin).status_code == 204
    assert Tenant.objects.filter(client_key=standin.client_key).count() == 1


def test_reinstall_rotates_the_secret_and_the_old_one_stops_working(client, tenant, standin):
    old = standin.shared_secret
    old_token = connect_token(secret=old, client_key=standin.client_key, method="POST", path="/connect/enabled")
    standin.shared_secret = "a-brand-new-secret-" + "x" * 30
    assert signed_install(client, standin).status_code == 204
    assert post_with_jwt(client, "/connect/enabled", old_token).status_code == 401
    new_token = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path="/connect/enabled"
    )
    assert post_with_jwt(client, "/connect/enabled", new_token).status_code == 204


def test_enabled_and_disabled_change_the_state(client, tenant, standin):
    def call(path):
        token = connect_token(secret=standin.shared_secret, client_key=standin.client_key, method="POST", path=path)
        return post_with_jwt(client, path, token)

    assert call("/connect/disabled").status_code == 204
    assert Tenant.objects.get(id=tenant.id).state == TenantState.DISABLED
    assert call("/connect/enabled").status_code == 204
    assert Tenant.objects.get(id=tenant.id).state == TenantState.ENABLED


def test_uninstall_marks_the_tenant_and_its_secret_is_never_trusted_again(client, tenant, standin):
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path="/connect/uninstalled"
    )
    response = post_with_jwt(client, "/connect/uninstalled", token, standin.installed_payload(eventType="uninstalled"))
    assert response.status_code == 204
    tenant.refresh_from_db()
    assert tenant.state == TenantState.UNINSTALLED
    assert tenant.shared_secret_encrypted == ""
    hs = connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path="/connect/enabled"
    )
    assert post_with_jwt(client, "/connect/enabled", hs).status_code == 401


def test_disabled_without_a_jwt_after_uninstall_is_acknowledged_and_ignored(client, tenant):
    response = client.post("/connect/disabled", data={"clientKey": tenant.client_key}, content_type="application/json")
    assert response.status_code == 204
    tenant.refresh_from_db()
    assert tenant.state == TenantState.INSTALLED


def test_tokens_signed_by_atlassian_jwt_are_accepted(client, tenant, standin):
    token = encode_token("POST", "/connect/enabled", standin.client_key, standin.shared_secret, timeout_secs=60)
    assert post_with_jwt(client, "/connect/enabled", token).status_code == 204


def test_install_with_a_bad_payload_names_the_fields_and_stores_nothing(client, standin):
    payload = standin.installed_payload(baseUrl="https://evil.example.com", sharedSecret=12, key="other.app")
    response = signed_install(client, standin, payload=payload)
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"baseUrl", "sharedSecret", "key"}
    assert not Tenant.objects.exists()


def test_install_with_an_oversized_secret_is_refused(client, standin):
    response = signed_install(client, standin, payload=standin.installed_payload(sharedSecret="s" * 10_000))
    assert response.status_code == 400
    assert "sharedSecret" in response.json()["fields"]
    assert not Tenant.objects.exists()


def assert_rejected(response):
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "detail": "Authentication failed."}
    assert b"Traceback" not in response.content


def enabled_claims(standin) -> dict:
    now = int(time.time())
    return {
        "iss": standin.client_key,
        "iat": now,
        "exp": now + 60,
        "qsh": query_string_hash("POST", "/connect/enabled"),
    }


def hand_signed(header: dict, claims: dict, key: bytes) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({**header, 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def enabled_token(standin, **overrides):
    return connect_token(
        secret=overrides.pop("secret", standin.shared_secret),
        client_key=overrides.pop("client_key", standin.client_key),
        method="POST",
        path="/connect/enabled",
        **overrides,
    )


@pytest.mark.parametrize(
    "attack",
    [
        "alg_none",
        "hs_rs_confusion",
        "expired",
        "future_iat",
        "wrong_qsh",
        "missing_qsh",
        "wrong_secret",
        "unknown_client_key",
        "context_token_on_qsh_endpoint",
        "garbage",
        "oversized",
        "no_token",
    ],
)
def test_hs256_attacks_are_rejected(client, tenant, standin, attack):
    now = int(time.time())
    if attack == "alg_none":
        claims = {"iss": standin.client_key, "iat": now, "exp": now + 60, "qsh": "x"}
        token = jwt.encode(claims, None, algorithm="none")
    elif attack == "hs_rs_confusion":
        # Header claims RS256, signature is an HMAC with the real shared secret: the algorithm must not be trusted.
        token = hand_signed({"alg": "RS256"}, enabled_claims(standin), standin.shared_secret.encode())
    elif attack == "expired":
        token = enabled_token(standin, iat=now - 3600, exp=now - 600)
    elif attack == "future_iat":
        token = enabled_token(standin, iat=now + 3600, exp=now + 7200)
    elif attack == "wrong_qsh":
        token = enabled_token(standin, qsh="0" * 64)
    elif attack == "missing_qsh":
        token = jwt.encode({"iss": standin.client_key, "iat": now, "exp": now + 60}, standin.shared_secret)
    elif attack == "wrong_secret":
        token = enabled_token(standin, secret="wrong-secret-" + "y" * 40)
    elif attack == "unknown_client_key":
        token = enabled_token(standin, client_key="someone-else")
    elif attack == "context_token_on_qsh_endpoint":
        token = enabled_token(standin, qsh=CONTEXT_QSH)
    elif attack == "garbage":
        token = "not.a.jwt"
    elif attack == "oversized":
        token = "eyJ" + "a" * 20_000
    else:
        token = ""
    assert_rejected(post_with_jwt(client, "/connect/enabled", token))
    tenant.refresh_from_db()
    assert tenant.state == TenantState.INSTALLED


def test_hs_rs_confusion_with_the_public_key_as_secret_is_rejected(client, tenant, standin):
    # PyJWT itself refuses to HMAC with a PEM key, so the forgery is built by hand.
    forged = hand_signed({"alg": "HS256"}, enabled_claims(standin), standin.install_keys.public_pem.encode())
    assert_rejected(post_with_jwt(client, "/connect/enabled", forged))


def test_a_token_from_an_uninstalled_tenant_is_rejected(client, tenant, standin):
    Tenant.objects.filter(id=tenant.id).update(state=TenantState.UNINSTALLED)
    assert_rejected(post_with_jwt(client, "/connect/enabled", enabled_token(standin)))


@pytest.mark.parametrize("attack", ["unknown_key", "wrong_aud", "other_tenant_body", "hs256", "bad_kid", "wrong_qsh"])
def test_signed_install_attacks_are_rejected_and_store_nothing(client, db, standin, attack):
    path = "/connect/installed"
    payload = standin.installed_payload(sharedSecret="attacker-chosen-secret-" + "z" * 30)
    if attack == "unknown_key":
        token = install_token(
            KeyPair(kid=standin.install_keys.kid + "x"),
            client_key=standin.client_key,
            app_base_url=settings.BASE_URL,
            path=path,
        )
    elif attack == "wrong_aud":
        token = install_token(
            standin.install_keys,
            client_key=standin.client_key,
            app_base_url="https://someone-else.example.com",
            path=path,
        )
    elif attack == "other_tenant_body":
        # Signed for clientKey A, carrying tenant B's body: the takeover Atlassian's signed install prevents.
        token = install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path=path
        )
        payload = standin.installed_payload(clientKey="victim-tenant-b")
    elif attack == "hs256":
        token = jwt.encode(
            {
                "iss": standin.client_key,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "qsh": "x",
                "aud": [settings.BASE_URL],
            },
            "s" * 40,
            algorithm="HS256",
        )
    elif attack == "bad_kid":
        token = install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path=path
        )
        token = standin.install_keys.sign(
            jwt.decode(token, options={"verify_signature": False}), kid="../../etc/passwd"
        )
    else:
        token = install_token(
            standin.install_keys,
            client_key=standin.client_key,
            app_base_url=settings.BASE_URL,
            path="/connect/uninstalled",
        )
    assert_rejected(signed_install(client, standin, payload=payload, token=token))
    assert not Tenant.objects.exists()


def test_uninstall_for_another_tenant_is_rejected(client, tenant, standin):
    token = install_token(
        standin.install_keys, client_key="someone-else", app_base_url=settings.BASE_URL, path="/connect/uninstalled"
    )
    response = post_with_jwt(client, "/connect/uninstalled", token, standin.installed_payload())
    assert_rejected(response)
    tenant.refresh_from_db()
    assert tenant.state == TenantState.INSTALLED


def test_install_keys_are_cached_per_kid(client, db, standin):
    install._install_keys.clear()
    standin.shared_secret = "secret-for-cache-test-" + "k" * 30
    assert signed_install(client, standin).status_code == 204
    fetched = install._install_keys.copy()
    standin.stop()  # the key server is gone: a second install must still verify from the cache
    assert signed_install(client, standin).status_code == 204
    assert install._install_keys == fetched


def test_a_token_kept_after_it_verified_is_refused_once_the_secret_rotates(client, tenant, standin):
    token = enabled_token(standin)
    assert post_with_jwt(client, "/connect/enabled", token).status_code == 204  # verified, and kept
    standin.shared_secret = "a-brand-new-secret-" + "y" * 30
    assert signed_install(client, standin).status_code == 204
    assert_rejected(post_with_jwt(client, "/connect/enabled", token))


def test_a_token_kept_after_it_verified_meets_the_clock_again_on_every_use(client, tenant, standin, settings):
    # Expired 10 s ago, inside the 30 s leeway: accepted, and kept. With no leeway left it must be refused, kept or not.
    settings.JWT_LEEWAY_SECONDS = 30
    token = enabled_token(standin, exp=int(time.time()) - 10)
    assert post_with_jwt(client, "/connect/enabled", token).status_code == 204
    assert post_with_jwt(client, "/connect/enabled", token).status_code == 204
    settings.JWT_LEEWAY_SECONDS = 0
    assert_rejected(post_with_jwt(client, "/connect/enabled", token))
    # The same for a token not yet valid (nbf): accepted inside the leeway, refused without it.
    settings.JWT_LEEWAY_SECONDS = 30
    early = enabled_token(standin, nbf=int(time.time()) + 10)
    assert post_with_jwt(client, "/connect/enabled", early).status_code == 204
    settings.JWT_LEEWAY_SECONDS = 0
    assert_rejected(post_with_jwt(client, "/connect/enabled", early))
