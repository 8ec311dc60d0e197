"""The lifecycle doors read their bodies with core.jsonbody (a body that is not JSON is a 400 naming `body`), and a
Forge eventType that is not one of the known strings is a 400 naming `eventType`, never a 500."""

import pytest
from django.conf import settings

from devhost.keys import install_token
from tenants.models import Tenant
from tests.conftest import BAD_JSON, NOT_JSON, fit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("data", BAD_JSON.values(), ids=BAD_JSON.keys())
@pytest.mark.parametrize("path", ["/connect/installed", "/connect/uninstalled"])
def test_signed_lifecycle_events_name_the_body(client, standin, path, data):
    token = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path=path
    )
    response = client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")
    assert (response.status_code, response.json()) == (400, NOT_JSON)
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("data", BAD_JSON.values(), ids=BAD_JSON.keys())
@pytest.mark.parametrize("path", ["/connect/installed", "/connect/uninstalled"])
def test_a_request_that_fails_authentication_is_401_whatever_its_body(client, standin, path, data):
    # The contract: any failed authentication is a 401. Only a request Atlassian signed is told about its body.
    unsigned = client.post(path, data=data, content_type="application/json")
    expired = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path=path, ttl=-60
    )
    other_path = install_token(
        standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path="/elsewhere"
    )
    for response in (
        unsigned,
        client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {expired}"),
        client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {other_path}"),
    ):
        assert response.status_code == 401 and "body" not in response.json().get("fields", {})
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("data", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_the_forge_lifecycle_names_the_body(client, standin, data):
    token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None)
    response = client.post(
        "/forge/lifecycle", data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert (response.status_code, response.json()) == (400, NOT_JSON)
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("event_type", [7, 1.5, True, None, ["avi:forge:installed:app"], {"a": 1}, ""])
def test_an_event_type_that_is_not_a_known_string_is_400_naming_it(client, standin, event_type):
    token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None)
    response = client.post(
        "/forge/lifecycle",
        data={"eventType": event_type},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["eventType"]
    assert not Tenant.objects.exists()
