import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A complete, safe production environment; tests remove or spoil one value at a time.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Kq2-secret-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "checklist.example.com",
    "BASE_URL": "https://checklist.example.com",
    "FIELD_ENCRYPTION_KEYS": "6yCNk-ebt4rUPbsKkXR3p9UH5TTpQy6vlfhdChoAWSw=",
}


@pytest.fixture
def run_django():
    """Run Python code in a fresh Django process with the given environment; returns the CompletedProcess."""

    def run(code: str, env: dict[str, str], *, setup: bool = True, timeout: float = 60):
        base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in ("REDIS_URL",)}
        prelude = "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'herochecklist.settings')\n"
        if setup:
            prelude += "django.setup()\n"
        return subprocess.run(
            [sys.executable, "-c", prelude + code],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def test_redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.fail("TEST_REDIS_URL is not set: run the suite with `make test`")
    return url


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def standin(settings):
    """The simulated Jira site, install-keys server and Forge JWKS, wired into settings."""
    from devhost.jira import JiraStandIn

    server = JiraStandIn(app_key=settings.APP_KEY).start()
    settings.ATLASSIAN_INSTALL_KEYS_URL = server.install_keys_url
    settings.FORGE_JWKS_URL = server.jwks_url
    settings.ALLOWED_JIRA_HOSTS = [*settings.ALLOWED_JIRA_HOSTS, server.host]
    server.app_base_url = settings.BASE_URL
    yield server
    server.stop()


def signed_install(client, standin, *, payload=None, token=None, path="/connect/installed"):
    """Send a lifecycle event through the Django test client, signed by the stand-in's install key."""
    from django.conf import settings

    from devhost.keys import install_token

    payload = payload if payload is not None else standin.installed_payload()
    if token is None:
        token = install_token(
            standin.install_keys, client_key=standin.client_key, app_base_url=settings.BASE_URL, path=path
        )
    return client.post(path, data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.fixture
def tenant(db, client, standin):
    """Tenant A: installed through the real signed lifecycle."""
    import secrets

    from tenants.models import Tenant

    standin.shared_secret = secrets.token_urlsafe(48)
    response = signed_install(client, standin)
    assert response.status_code == 204, response.content
    return Tenant.objects.get(client_key=standin.client_key)
