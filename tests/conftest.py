import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG = ROOT / "var" / "test-workers.log"  # what the test suite's Celery workers printed

# A complete, safe production environment; tests remove or spoil one value at a time.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Kq2-secret-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "checklist.example.com",
    "BASE_URL": "https://checklist.example.com",
    "FIELD_ENCRYPTION_KEYS": "6yCNk-ebt4rUPbsKkXR3p9UH5TTpQy6vlfhdChoAWSw=",
}


@pytest.fixture(autouse=True)
def _forget_cached_tenants():
    """Each test's database starts over, so must each process's tenant cache (tenants/selectors.py)."""
    from tenants.selectors import tenant_cache_clear

    tenant_cache_clear()
    yield
    tenant_cache_clear()


@pytest.fixture
def backup_dir(settings, tmp_path):
    """The backups storage pointed at a folder of this test's own; yields the folder."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {"BACKEND": settings.BACKUP_STORAGE_BACKEND, "OPTIONS": {"location": str(tmp_path)}},
    }
    storages._storages.pop("backups", None)
    yield tmp_path
    storages._storages.pop("backups", None)


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


ISSUE = {"id": "10001", "key": "DEMO-1", "projectId": "10000", "typeId": "10002"}


def issue_ref(issue=None):
    from tenants.types import IssueRef

    issue = issue or ISSUE
    return IssueRef(id=issue["id"], key=issue["key"], project_id=issue["projectId"], issue_type_id=issue["typeId"])


@pytest.fixture
def other_tenant(db):
    """Tenant B (charlie's site): installed directly, no stand-in needed."""
    from tenants.models import Tenant

    tenant = Tenant(client_key="tenant-b-client-key", base_url="https://tenant-b.atlassian.net")
    tenant.set_shared_secret("tenant-b-shared-secret-" + "b" * 30)
    tenant.save()
    return tenant


class Api:
    """Calls /api/v1 as one user of one site, with a panel token bound to one issue (or another credential)."""

    def __init__(self, client, tenant, account_id="557058:alice", issue=None, authorization=None):
        from tenants.auth import mint_panel_token

        self.client = client
        self.issue = issue or ISSUE
        self.authorization = authorization or "Bearer " + mint_panel_token(
            tenant=tenant, account_id=account_id, issue=issue_ref(self.issue)
        )

    def url(self, suffix="", issue_id=None):
        return f"/api/v1/issues/{issue_id or self.issue['id']}/checklist{suffix}"

    def call(self, method, path, data=None, *, version=None, content_type="application/json", raw=False):
        import json as _json

        headers = {"HTTP_AUTHORIZATION": self.authorization}
        if version is not None:
            headers["HTTP_IF_MATCH"] = f'"{version}"'
        body = data if raw or data is None else _json.dumps(data)
        return getattr(self.client, method)(path, data=body, content_type=content_type, **headers)

    def get(self, suffix="", issue_id=None):
        return self.client.get(self.url(suffix, issue_id), HTTP_AUTHORIZATION=self.authorization)

    def add(self, text="item", version=None, **fields):
        return self.call("post", self.url("/items"), {"text": text, **fields}, version=version)

    def patch(self, item_id, version=None, **fields):
        return self.call("patch", self.url(f"/items/{item_id}"), fields, version=version)

    def delete(self, item_id, version=None):
        return self.call("delete", self.url(f"/items/{item_id}"), version=version)

    def put_text(self, text, version=None):
        return self.call("put", self.url("/text"), text.encode(), version=version, content_type="text/plain", raw=True)


@pytest.fixture
def api(client, tenant):
    return Api(client, tenant)


# A Forge site of the stand-in, and calls through the Forge front door (Forge Invocation Tokens).
INSTALLATION = "ari:cloud:ecosystem::installation/7f1c2d3e-0000-4000-8000-00000000f0f0"
OTHER_INSTALLATION = "ari:cloud:ecosystem::installation/7f1c2d3e-0000-4000-8000-00000000beef"


def fit(standin, settings, *, installation=INSTALLATION, issue=ISSUE, module_key="herochecklist-panel", **kw):
    from devhost.keys import forge_token

    return forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id=installation,
        issue=issue,
        module_key=module_key,
        **kw,
    )


def forge_api(client, standin, settings, **kw):
    return Api(client, None, authorization="Bearer " + fit(standin, settings, **kw))


@pytest.fixture
def start_worker(test_redis_url, transactional_db):
    """Starts real Celery workers in their own processes, on a queue of this test's own, against the real Redis and
    this test database. Returns a function: start_worker(**extra_env) -> Popen. All are stopped afterwards."""
    import signal
    import uuid

    from django.db import connection

    from herochecklist.celery import app

    queue = f"test-{uuid.uuid4().hex[:10]}"
    if connection.vendor == "mongodb":
        url = os.environ["DATABASE_URL"].replace("/herochecklist?", f"/{connection.settings_dict['NAME']}?")
    else:
        url = f"sqlite:///{connection.settings_dict['NAME']}"
    base_env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": test_redis_url,
        "CELERY_QUEUE": queue,
        "PROGRESS_SYNC_RETRY_BASE_SECONDS": "0.2",
    }
    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend", "task_default_queue")}

    def use_broker(**conf):
        app.conf.update(**conf)
        # Producer pools are built on first use for the broker of that moment (eager tasks of earlier tests use the
        # in-memory one): drop them so the next send connects to the broker just configured.
        app._pool = None
        app.amqp._producer_pool = None

    use_broker(
        task_always_eager=False, broker_url=test_redis_url, result_backend=test_redis_url, task_default_queue=queue
    )
    workers: list[subprocess.Popen] = []

    def start(**extra_env):
        from devhost.celery import worker_command

        worker = subprocess.Popen(
            worker_command(queue),
            cwd=ROOT,
            env={**base_env, **{k: str(v) for k, v in extra_env.items()}},
            stdout=WORKER_LOG.open("a"),
            stderr=subprocess.STDOUT,
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
    use_broker(**saved)


@pytest.fixture
def celery_worker_process(start_worker):
    return start_worker()


@pytest.fixture
def hubspot(settings):
    """The HubSpot stand-in, wired into settings, with its own rate-limit key."""
    import uuid

    from devhost.hubspot import HubSpotStandIn

    server = HubSpotStandIn(limit=100, window=10.0).start()
    settings.HUBSPOT_BASE_URL = server.base_url
    settings.HUBSPOT_ACCESS_TOKEN = server.token
    settings.HUBSPOT_RATE_LIMIT_KEY = f"hubspot-test-{uuid.uuid4().hex[:8]}"
    yield server
    server.stop()


# --- staff in the admin console -------------------------------------------------------------------------------------

PASSWORD = "a-long-staff-password-42"


def create_staff(username, role, monkeypatch):
    import io
    import sys

    from django.core.management import call_command

    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    out = io.StringIO()
    call_command("createstaff", username, role=role, password_stdin=True, stdout=out)
    return out.getvalue()


def code_for(device, drift: int = 0) -> str:
    from django_otp.oath import totp

    return f"{totp(device.bin_key, device.step, device.t0, device.digits, drift):0{device.digits}d}"


def login(client, username, *, password=PASSWORD, token=None):
    if token is None:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        token = code_for(TOTPDevice.objects.get(user__username=username))
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password, "otp_token": token})


@pytest.fixture
def staff(monkeypatch):
    """staff(role) -> a Client logged in through the real login form with password and TOTP."""

    from django.test import Client

    def make(role):
        username = f"{role}-user"
        create_staff(username, role, monkeypatch)
        client = Client()
        response = login(client, username)
        assert response.status_code == 302 and response.url == "/admin/", response.content[:500]
        return client

    return make
