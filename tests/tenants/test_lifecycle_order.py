"""Connect lifecycle events applied in the order Atlassian signed them, not the order they arrive.

Jira retries `uninstalled`, `enabled` and `disabled` like webhooks, and a signed event stays valid until its exp: one
delivered (or replayed) after a newer event must not undo it. Each test signs two events a minute apart (further than
the leeway within which events apply in arrival order) and delivers the older one last."""

import time

import pytest
from django.conf import settings

from devhost.keys import connect_token, install_token
from tenants.models import Tenant, TenantState
from tests.conftest import Api, signed_install

pytestmark = pytest.mark.django_db


def _signed(standin, path, iat, *, rs256):
    if rs256:
        return install_token(
            standin.install_keys,
            client_key=standin.client_key,
            app_base_url=settings.BASE_URL,
            path=path,
            iat=iat,
            exp=iat + 600,
        )
    return connect_token(
        secret=standin.shared_secret, client_key=standin.client_key, method="POST", path=path, iat=iat, exp=iat + 600
    )


@pytest.fixture(autouse=True)
def _leeway(settings):
    settings.JWT_LEEWAY_SECONDS = 10  # events signed closer than this apply in arrival order; these are 60 s apart


@pytest.fixture
def site(client, standin):
    """The stand-in's site, installed five minutes ago: before every event the tests sign."""
    import secrets

    standin.shared_secret = secrets.token_urlsafe(48)
    token = _signed(standin, "/connect/installed", int(time.time()) - 300, rs256=True)
    assert signed_install(client, standin, token=token).status_code == 204
    return Tenant.objects.get(client_key=standin.client_key)


def _post(client, standin, path, token):
    body = standin.installed_payload(eventType=path.rsplit("/", 1)[-1])
    return client.post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


def test_an_uninstall_signed_before_the_reinstall_does_not_uninstall_the_site(client, standin, site):
    now = int(time.time())
    uninstall = _signed(standin, "/connect/uninstalled", now - 120, rs256=True)
    assert _post(client, standin, "/connect/uninstalled", uninstall).status_code == 204
    reinstall = _signed(standin, "/connect/installed", now - 60, rs256=True)
    assert signed_install(client, standin, token=reinstall).status_code == 204
    # The uninstall again (a retry, or a replay within its exp): acknowledged, and the site stays installed.
    assert _post(client, standin, "/connect/uninstalled", uninstall).status_code == 204
    stored = Tenant.objects.get(pk=site.pk)
    assert stored.state == TenantState.INSTALLED and stored.shared_secret == standin.shared_secret
    assert Api(client, stored).get().status_code == 200


def test_an_install_signed_before_the_latest_one_does_not_put_its_old_secret_back(client, standin, site):
    now = int(time.time())
    old_secret = standin.shared_secret
    older = _signed(standin, "/connect/installed", now - 120, rs256=True)
    assert signed_install(client, standin, token=older).status_code == 204
    standin.shared_secret = "a-newer-secret-" + "n" * 40
    assert (
        signed_install(client, standin, token=_signed(standin, "/connect/installed", now - 60, rs256=True)).status_code
        == 204
    )
    # The older install again, with the secret it carried: the newer secret stays the one trusted.
    payload = standin.installed_payload(sharedSecret=old_secret)
    assert signed_install(client, standin, payload=payload, token=older).status_code == 204
    assert Tenant.objects.get(pk=site.pk).shared_secret == standin.shared_secret


@pytest.mark.parametrize(
    ("first", "then", "state"),
    [("disabled", "enabled", TenantState.ENABLED), ("enabled", "disabled", TenantState.DISABLED)],
)
def test_an_enable_or_disable_signed_before_the_latest_one_changes_nothing(client, standin, site, first, then, state):
    now = int(time.time())
    older = _signed(standin, f"/connect/{first}", now - 120, rs256=False)
    assert _post(client, standin, f"/connect/{first}", older).status_code == 204
    assert (
        _post(
            client, standin, f"/connect/{then}", _signed(standin, f"/connect/{then}", now - 60, rs256=False)
        ).status_code
        == 204
    )
    assert _post(client, standin, f"/connect/{first}", older).status_code == 204  # delivered again, late
    assert Tenant.objects.get(pk=site.pk).state == state
