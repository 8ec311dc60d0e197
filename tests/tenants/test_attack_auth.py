"""Attack suite, front doors (issue #16): no request input reaches a 500 (install bodies, claims of validly signed
tokens, kids), allowed Jira hosts are judged on the parsed hostname, and made-up kids cannot turn into one key
fetch each, while fetched keys expire."""

import contextlib
import json
import math
import secrets
import time

import jwt
import pytest
from django.test import RequestFactory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.keys import KeyPair, connect_token, forge_token, install_token
from tenants import auth
from tenants.auth import AuthError, authenticate_api_request, install, panel
from tenants.models import Tenant
from tenants.qsh import CONTEXT_QSH
from tenants.services import _allowed_jira_url
from tests.conftest import ISSUE, forge_installed, signed_install

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.just(math.inf),
    st.just(-math.inf),
    st.just(math.nan),
    st.just(1e308),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["10001\n", "\u0661\u0660", "not-a-uuid", "../../x", "x" * 3000, "\ud800", "\x00"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@pytest.fixture(autouse=True)
def _fresh_install_key_cache():
    for state in (install._install_keys, install._install_key_misses, install._install_key_cooldown):
        state.clear()
    yield
    for state in (install._install_keys, install._install_key_misses, install._install_key_cooldown):
        state.clear()


def raw_sign(keys, claims: dict, *, kid: str | None = None) -> str:
    """Signed without PyJWT's claim checks on encode, so any claim value reaches the server."""
    payload = json.dumps(claims).encode()  # NaN and Infinity as JSON's extensions, as a hostile signer would
    return jwt.PyJWS().encode(payload, keys.private, algorithm="RS256", headers={"kid": kid or keys.kid})


def post_install(client, token, payload):
    return client.post(
        "/connect/installed", data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}"
    )


# --- install bodies ---------------------------------------------------------------------------------------------

URLS = st.one_of(
    st.sampled_from(
        [
            "https://a b.atlassian.net",
            "https://evil.example\\.atlassian.net",
            "https://evil.example\\@x.atlassian.net",
            "https://x.atlassian.net@evil.example",
            "https://[::1",
            "https://x.atlassian.net:99999",
            "https://x.atlassian.net:port",
            "https://x.atlassian.net/%zz\x00",
            "https://x.atlassian.net\n.evil.example",
            "https://\u0430tlassian.atlassian.net",
            "javascript:alert(1)//x.atlassian.net",
            "https://x.atlassian.net?next=evil",
            "https://evil.example/x.atlassian.net",
            "https://evil.example#.atlassian.net",
        ]
    ),
    st.text(max_size=40).map(lambda s: "https://" + s + ".atlassian.net"),
)


@FUZZ
@given(base_url=URLS, display_url=st.one_of(URLS, st.text(max_size=20)), extra=ODD)
def test_install_bodies_never_reach_a_500(client, standin, base_url, display_url, extra):
    payload = standin.installed_payload(
        baseUrl=base_url, displayUrl=display_url, sharedSecret="s" * 40, entitlementId=extra
    )
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
    )
    response = post_install(client, token, payload)
    assert response.status_code in (204, 400), (base_url, display_url, extra, response.content)
    if response.status_code == 204:
        stored = Tenant.objects.get(client_key=standin.client_key)
        assert stored.base_url == base_url.rstrip("/") and "\\" not in stored.base_url and " " not in stored.base_url
    elif response.json()["error"] != "invalid_payload":  # NaN and Infinity are not JSON (core.jsonbody)
        assert response.json() == {"error": "validation_failed", "fields": {"body": "is not valid JSON"}}


def _base():
    from django.conf import settings as django_settings

    return django_settings.BASE_URL


@pytest.mark.parametrize(
    "base_url",
    [
        "https://a b.atlassian.net",  # a space: the model's URL check used to raise a 500
        "https://evil.example\\.atlassian.net",  # browsers read the backslash as a slash: host evil.example
        "https://evil.example\\@x.atlassian.net",
        "https://x.atlassian.net@evil.example",
        "https://[::1",
        "https://x.atlassian.net:99999",
        "https://evil.example/x.atlassian.net",
        "https://evil.example#.atlassian.net",
        "https://evil.example?.atlassian.net",
    ],
)
def test_malformed_or_foreign_base_urls_are_400(client, standin, base_url):
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
    )
    response = post_install(client, token, standin.installed_payload(baseUrl=base_url, sharedSecret="s" * 40))
    assert response.status_code == 400
    assert "baseUrl" in response.json()["fields"]
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("field", ["clientKey", "sharedSecret", "entitlementId", "installationId"])
def test_control_characters_and_surrogates_in_install_fields_are_400(client, standin, field):
    payload = standin.installed_payload(**{"sharedSecret": "s" * 40, field: "bad\ud800value"})
    client_key = payload["clientKey"]
    token = install_token(standin.install_keys, client_key=client_key, app_base_url=_base(), path="/connect/installed")
    response = post_install(client, token, payload)
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_allowed_hosts_compare_the_parsed_hostname(settings):
    settings.ALLOWED_JIRA_HOSTS = ["*.atlassian.net", "127.0.0.1:8080"]
    assert _allowed_jira_url("https://acme.atlassian.net")
    assert _allowed_jira_url("https://ACME.atlassian.net/")
    assert _allowed_jira_url("https://acme.atlassian.net/wiki")
    assert _allowed_jira_url("http://127.0.0.1:8080")
    assert not _allowed_jira_url("http://127.0.0.1:8081")
    assert not _allowed_jira_url("http://acme.atlassian.net")  # plain http only for exact names
    assert not _allowed_jira_url("https://evil.example\\.atlassian.net")
    assert not _allowed_jira_url("https://user:pw@acme.atlassian.net")
    assert not _allowed_jira_url("https://acme.atlassian.net.evil.example")
    assert not _allowed_jira_url("https://a b.atlassian.net")


# --- claims of validly signed tokens ----------------------------------------------------------------------------


@FUZZ
@given(name=st.sampled_from(["exp", "iat", "aud", "iss", "qsh", "sub"]), value=ODD)
def test_install_token_claims_never_reach_a_500(client, standin, name, value):
    claims = jwt.decode(
        install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
        ),
        options={"verify_signature": False},
    )
    token = raw_sign(standin.install_keys, {**claims, name: value})
    response = post_install(client, token, standin.installed_payload(sharedSecret="s" * 40))
    assert response.status_code in (204, 401), (name, value, response.content)


@pytest.mark.parametrize("exp", [math.inf, math.nan, 1e300, 10**30, "9999999999", True, [1]])
def test_odd_exp_in_a_signed_install_is_401(client, standin, exp):
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed", exp=exp
    )
    response = post_install(client, token, standin.installed_payload(sharedSecret="s" * 40))
    assert response.status_code == 401
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("qsh", ["\u00e9" * 64, "\ud800", "caf\u00e9"])
def test_a_non_ascii_qsh_in_a_signed_install_is_401(client, standin, qsh):
    claims = jwt.decode(
        install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
        ),
        options={"verify_signature": False},
    )
    response = post_install(client, raw_sign(standin.install_keys, {**claims, "qsh": qsh}), standin.installed_payload())
    assert response.status_code == 401


def panel_token(claims: dict) -> str:
    return jwt.encode(claims, panel._panel_key(), algorithm="HS256")


def panel_claims(tenant, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": auth.PANEL_ISSUER,
        "aud": auth.PANEL_AUDIENCE,
        "sub": "557058:alice",
        "tid": str(tenant.id),
        "issue_id": ISSUE["id"],
        "issue_key": ISSUE["key"],
        "pid": "10000",
        "itid": "10002",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    return claims


@FUZZ
@given(name=st.sampled_from(["sub", "tid", "issue_id", "issue_key", "pid", "itid", "exp", "iat"]), value=ODD)
def test_panel_token_claims_never_reach_a_500(client, tenant, name, value):
    token = panel_token(panel_claims(tenant, **{name: value}))
    response = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 401, 403), (name, value, response.content)


@pytest.mark.parametrize(
    "overrides",
    [
        {"tid": "not-a-uuid"},
        {"tid": 12},
        {"exp": math.inf},
        {"exp": math.nan},
        {"sub": "x" * 1500},
        {"sub": ["557058:alice"]},
        {"issue_id": "10001\n"},
        {"issue_id": 10001},
        {"pid": "\u0661"},
    ],
)
def test_odd_panel_claims_are_401(client, tenant, overrides):
    token = panel_token(panel_claims(tenant, **overrides))
    response = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401


CONTEXTS = st.one_of(
    ODD,
    st.fixed_dictionaries({"jira": ODD}),
    st.fixed_dictionaries({"jira": st.fixed_dictionaries({"issue": ODD, "project": ODD})}),
    st.fixed_dictionaries({"jira": st.fixed_dictionaries({"issue": st.fixed_dictionaries({"id": ODD, "key": ODD})})}),
)


@FUZZ
@given(context=CONTEXTS, sub=ODD)
def test_connect_context_claims_never_reach_a_500(client, tenant, standin, context, sub):
    token = connect_token(
        secret=tenant.shared_secret, client_key=tenant.client_key, qsh=CONTEXT_QSH, context=context, sub=sub
    )
    response = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code in (200, 401, 403), (context, sub, response.content)


@pytest.mark.parametrize(
    "context", ["a string", {"jira": []}, {"jira": {"issue": "10001"}}, {"jira": {"issue": {"id": "10001\n"}}}]
)
def test_odd_connect_context_is_401(client, tenant, context):
    token = connect_token(secret=tenant.shared_secret, client_key=tenant.client_key, qsh=CONTEXT_QSH, context=context)
    response = client.get(f"/api/v1/issues/{ISSUE['id']}/checklist", HTTP_AUTHORIZATION=f"JWT {token}")
    assert response.status_code == 401


INSTALLATION = "ari:cloud:ecosystem::installation/5e3b7a9c-0000-4000-8000-00000000fuzz"


@FUZZ
@given(
    name=st.sampled_from(["app", "context", "principal", "exp", "nbf", "iat"]),
    value=ODD,
)
def test_forge_token_claims_never_reach_a_500(standin, settings, name, value):
    token = forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id=INSTALLATION,
        issue={"id": "10001", "key": "DEMO-1", "typeId": "10002", "projectId": "10000"},
        **{name: value},
    )
    request = RequestFactory().get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")
    with contextlib.suppress(AuthError):  # refused is a 401 at the door; anything else raised here would be a 500
        authenticate_api_request(request)


@pytest.mark.parametrize(
    "name, value",
    [("exp", math.inf), ("context", "x"), ("app", {"installationId": "i" * 3000}), ("principal", "p" * 1500)],
)
def test_odd_forge_claims_are_refused(standin, settings, name, value):
    token = forge_token(standin.forge_keys, app_id=settings.FORGE_APP_ID, installation_id=INSTALLATION, **{name: value})
    request = RequestFactory().get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {token}")
    with pytest.raises(AuthError):
        authenticate_api_request(request)


def test_an_infinite_expiry_on_the_forge_system_token_is_not_a_500(client, standin, settings):
    system_token = jwt.encode({"exp": 1e400}, "k" * 32, algorithm="HS256")  # 1e400 is JSON's Infinity
    forge_installed(client, standin, settings, system_token, installation=INSTALLATION)  # the door that keeps it
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    assert tenant.forge_system_token() == system_token and tenant.forge_system_token_expires_at is None


# --- kids -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["devhost-key\n", "a/../b", "..", "k\x00", "k" * 200, "\u0661"])
def test_odd_kids_are_401_without_a_fetch(client, standin, kid):
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
    )
    forged = standin.install_keys.sign(jwt.decode(token, options={"verify_signature": False}), kid=kid)
    response = post_install(client, forged, standin.installed_payload(sharedSecret="s" * 40))
    assert response.status_code == 401
    assert standin.install_key_requests == []


def test_a_kid_ending_in_a_newline_is_refused_for_forge_too(standin, settings):
    token = forge_token(standin.forge_keys, app_id=settings.FORGE_APP_ID, installation_id=INSTALLATION)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = standin.forge_keys.sign(claims, kid=standin.forge_keys.kid + "\n")
    request = RequestFactory().get("/api/v1/issues/10001/checklist", HTTP_AUTHORIZATION=f"Bearer {forged}")
    with pytest.raises(AuthError, match="kid"):
        authenticate_api_request(request)


# --- amplification and key expiry ---------------------------------------------------------------------------------


def made_up_kid_install(client, standin, kid):
    claims = jwt.decode(
        install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed"
        ),
        options={"verify_signature": False},
    )
    return post_install(client, standin.install_keys.sign(claims, kid=kid), standin.installed_payload())


def test_made_up_kids_do_not_make_one_fetch_each(client, standin, settings):
    settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS = 3600
    for n in range(25):
        assert made_up_kid_install(client, standin, f"made-up-{n}").status_code == 401
    assert len(standin.install_key_requests) == 1  # the first; the cooldown holds the rest


def test_an_unknown_kid_is_remembered(client, standin, settings):
    settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS = 0  # the negative cache alone
    for _ in range(10):
        assert made_up_kid_install(client, standin, "made-up-again").status_code == 401
    assert standin.install_key_requests == ["made-up-again"]


def test_the_real_kid_still_installs_after_an_unknown_one_when_the_cooldown_is_over(client, standin, settings):
    settings.ATLASSIAN_INSTALL_KEY_COOLDOWN_SECONDS = 0
    assert made_up_kid_install(client, standin, "made-up").status_code == 401
    standin.shared_secret = secrets.token_urlsafe(40)
    assert signed_install(client, standin).status_code == 204
    assert standin.install_key_requests == ["made-up", standin.install_keys.kid]


def test_fetched_install_keys_expire_so_a_revoked_key_stops_working(client, standin, settings):
    standin.shared_secret = secrets.token_urlsafe(40)
    assert signed_install(client, standin).status_code == 204
    assert signed_install(client, standin).status_code == 204
    assert standin.install_key_requests == [standin.install_keys.kid]  # cached while fresh
    old = standin.install_keys
    standin.install_keys = KeyPair()  # Atlassian revokes the old key: it no longer serves it
    settings.ATLASSIAN_INSTALL_KEY_CACHE_SECONDS = 0  # and our cached copy has expired
    token = install_token(old, client_key=standin.client_key, app_base_url=_base(), path="/connect/installed")
    response = post_install(client, token, standin.installed_payload())
    assert response.status_code == 401
    assert standin.install_key_requests == [old.kid, old.kid]  # fetched again, and refused


def test_a_malformed_keys_url_is_a_401_not_a_500(client, standin, settings):
    settings.ATLASSIAN_INSTALL_KEYS_URL = "http://exa mple.invalid:99999999/keys"
    standin.shared_secret = secrets.token_urlsafe(40)
    assert signed_install(client, standin).status_code == 401


def test_a_keys_server_trickling_its_answer_refuses_the_install_at_the_deadline(client, standin, settings, trickle):
    settings.ATLASSIAN_INSTALL_KEYS_URL = trickle.base_url
    standin.shared_secret = secrets.token_urlsafe(40)
    refused = signed_install(client, standin)
    assert refused.status_code == 401 and "error" in refused.json()
    assert trickle.ended() == ["client"]  # OUTBOUND_KEYS_DEADLINE_SECONDS ended it, not the server's 15 s
    assert not Tenant.objects.exists()
