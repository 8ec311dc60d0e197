import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler

from checklists.tasks import forget_queued_pushes
from devhost.celery import worker_command
from devhost.forward_proxy import ForwardProxy
from devhost.hubspot import HubSpotStandIn
from devhost.jira import JiraStandIn
from devhost.keys import forge_token, install_token
from devhost.redis import free_port
from devhost.trickle import TrickleServer
from herochecklist.celery import app
from tenants.auth import mint_panel_token
from tenants.models import Tenant
from tenants.selectors import tenant_cache_clear
from tenants.types import IssueRef

ROOT = Path(__file__).resolve().parent.parent
WORKER_LOG = ROOT / "var" / "test-workers.log"  # what the test suite's Celery workers printed

# Django's development server (the live_server of browser and schemathesis tests) writes a response's headers and body
# in two sends: with Nagle's algorithm the body waits for the client's delayed ACK, 40 ms on Linux, for every request.
# Measured: 45 ms per request on 127.0.0.1, 0.2 ms with TCP_NODELAY. The standard library's switch for it:
WSGIRequestHandler.disable_nagle_algorithm = True


def _backups_in_a_folder_of_this_run() -> None:
    """Every purge writes its ledger file beside the backups (tenants.purge_ledger): the tests' purges write into a
    folder of this test process, removed at its end, never into var/backups. (A test that reads or writes archives
    takes a folder of its own: the backup_dir fixture.)"""
    import atexit
    import shutil
    import tempfile

    from django.conf import settings

    folder = tempfile.mkdtemp(prefix="herochecklist-test-backups-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    options = settings.STORAGES["backups"].setdefault("OPTIONS", {})
    if "location" in options:
        options["location"] = folder


_backups_in_a_folder_of_this_run()


def _use_this_xdist_workers_servers() -> None:
    """Under pytest-xdist, point this worker at the database server and Redis database of its own.

    tests/run_suite.py starts one SecantusDB per worker and lists them, with one Redis database each, in
    TEST_WORKER_DATABASE_URLS and TEST_WORKER_REDIS_URLS (space-separated; worker gw0 takes the first). Without those
    lists every worker keeps what it was given: pytest-django still gives each worker a test database of its own
    (name suffixed _gw0, _gw1, ...), and tests keep their Redis keys and Celery queues apart by per-test names.

    Runs when this conftest is imported: after pytest-django has read the settings but before any test module has
    opened a connection. Django's connections hold the very dict of settings.DATABASES, so an update here is seen by
    every connection; os.environ is updated too for the subprocesses (Celery workers, run_django) tests start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    index = int(worker.removeprefix("gw"))
    redis_urls = os.environ.get("TEST_WORKER_REDIS_URLS", "").split()
    if redis_urls:
        os.environ["TEST_REDIS_URL"] = redis_urls[index % len(redis_urls)]
    database_urls = os.environ.get("TEST_WORKER_DATABASE_URLS", "").split()
    if database_urls:
        from django.conf import settings

        url = database_urls[index % len(database_urls)]
        if not url.startswith("mongodb://") or settings.DATABASES["default"].get("HOST") != os.environ["DATABASE_URL"]:
            raise RuntimeError("TEST_WORKER_DATABASE_URLS: per-worker servers are for the MongoDB half only")
        os.environ["DATABASE_URL"] = url
        settings.DATABASES["default"]["HOST"] = url


_use_this_xdist_workers_servers()

# A complete, safe production environment; tests remove or spoil one value at a time.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Kq2-secret-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "checklist.example.com",
    "BASE_URL": "https://checklist.example.com",
    "FIELD_ENCRYPTION_KEYS": "6yCNk-ebt4rUPbsKkXR3p9UH5TTpQy6vlfhdChoAWSw=",
}


class _MongoReset:
    """Puts the MongoDB test database back as migrate left it, between tests, in a fraction of Django's time.

    MongoDB tests cannot roll back (django-mongodb-backend runs every test as a TransactionTestCase), so Django
    flushes after each test: a delete per collection, then post_migrate recreates content types, permissions and the
    staff roles, a few hundred queries that took SecantusDB seconds a test. Here the collections that hold rows
    after migrate are copied once, and after each test every other collection is emptied and those are compared with
    their copy, row by row: the same state as a flush, whatever the test (or a worker process it started) wrote.
    Writing the copies back every time (about 200 rows, their indexes) was 90% of a reset's 230 ms; reading and
    comparing them is 15 ms, and a test seldom changes them. All collections are looked at in one aggregate, and only
    those holding rows are emptied."""

    def __init__(self, alias: str):
        self.alias = alias
        database = self.database()
        self.names = sorted(n for n in database.list_collection_names() if not n.startswith("system."))
        self.rows = {name: {row["_id"]: row for row in database[name].find()} for name in self.names}
        self.rows = {name: rows for name, rows in self.rows.items() if rows}

    def database(self):
        """The connection's database as it is now: a test that closed the connection (a fault test) leaves a new
        client behind it, and the one of the session's start would answer "Cannot use MongoClient after close"."""
        from django.db import connections

        connection = connections[self.alias]
        connection.ensure_connection()
        return connection.database

    def __call__(self) -> None:
        import pymongo

        database = self.database()
        with pymongo.timeout(120):  # a test that left thousands of rows must not fail its teardown on a busy machine
            found = self._look(database)
            for name in self.names:
                seeded = self.rows.get(name)
                if not seeded:
                    if name in found:
                        database[name].delete_many({})
                elif found.get(name) != seeded:
                    # Changed: back to the copy whole (a row put back one by one could meet a unique index).
                    database[name].delete_many({})
                    database[name].insert_many(list(seeded.values()))

    def _look(self, database) -> dict[str, dict]:
        """In one aggregate ($unionWith): each seeded collection's rows, and one row of each other collection that
        holds any, keyed by collection. A delete per collection, most of them already empty, was 27 round trips."""
        tag = "_reset_collection"

        def rows_of(name: str) -> list[dict]:
            if name in self.rows:
                return [{"$addFields": {tag: {"$literal": name}}}]
            return [{"$limit": 1}, {"$project": {"_id": 0, tag: {"$literal": name}}}]

        first, *rest = self.names
        pipeline = rows_of(first) + [{"$unionWith": {"coll": name, "pipeline": rows_of(name)}} for name in rest]
        found: dict[str, dict] = {}
        for row in database[first].aggregate(pipeline):
            name = row.pop(tag)
            rows = found.setdefault(name, {})
            if "_id" in row:
                rows[row["_id"]] = row
        return found


class _SQLiteReset:
    """The same quick reset on SQLite. Django's flush deletes every table and post_migrate then recreates the content
    types, permissions and staff roles: 236 statements, about 100 ms, after each of the hundreds of tests that need
    real transactions. Here each table is emptied, and the tables migrate filled are compared with their copy and put
    back only when a test changed them (a few ms)."""

    def __init__(self, alias: str):
        from django.db import connections

        self.alias = alias
        with connections[alias].cursor() as cursor:
            tables = connections[alias].introspection.get_table_list(cursor)
            self.names = sorted(table.name for table in tables if table.type == "t")
            self.rows = {name: self._rows(cursor, name) for name in self.names}
        self.rows = {name: rows for name, rows in self.rows.items() if rows}

    @staticmethod
    def _rows(cursor, name: str) -> list[tuple]:
        cursor.execute(f'SELECT * FROM "{name}" ORDER BY 1')
        return cursor.fetchall()

    def __call__(self) -> None:
        from django.db import connections, transaction

        with transaction.atomic(using=self.alias), connections[self.alias].cursor() as cursor:
            for name in self.names:
                seeded = self.rows.get(name)
                if seeded is None:
                    cursor.execute(f'DELETE FROM "{name}"')
                elif self._rows(cursor, name) != seeded:
                    cursor.execute(f'DELETE FROM "{name}"')
                    marks = ", ".join("%s" for _ in seeded[0])
                    cursor.executemany(f'INSERT INTO "{name}" VALUES ({marks})', seeded)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and the quick reset between tests that need real transactions (_MongoReset,
    _SQLiteReset) instead of Django's flush."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.test import TransactionTestCase

    with django_db_blocker.unblock():
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        reset = (_MongoReset if vendor == "mongodb" else _SQLiteReset)(DEFAULT_DB_ALIAS)
    flush = TransactionTestCase._fixture_teardown

    def _fixture_teardown(self):
        if self.available_apps is not None or self.serialized_rollback:
            return flush(self)
        for alias in self._databases_names(include_mirrors=False):
            if alias != DEFAULT_DB_ALIAS:
                raise RuntimeError(f"tests/conftest.py resets only the default database, not {alias!r}")
        reset()

    TransactionTestCase._fixture_teardown = _fixture_teardown
    yield
    TransactionTestCase._fixture_teardown = flush


@pytest.fixture
def long_db_operations():
    """For tests that build or read thousands of rows: each MongoDB operation of this test (in this thread) may take
    up to two minutes instead of the suite's timeoutMS, so a loaded machine slows the test down without failing it.
    (The short timeoutMS stays for everything else: it turns a SecantusDB transaction stall into a retryable error.)
    Nothing changes on SQLite."""
    import pymongo

    with pymongo.timeout(120):
        yield


class _MinuteStartClock:
    """The time module, with time() shifted so that a test starts one second into a clock minute (the shift stays
    the same for the whole test, so durations are real)."""

    def __init__(self) -> None:
        now = time.time()
        self._shift = 1 - now % 60

    def time(self) -> float:
        return time.time() + self._shift

    def __getattr__(self, name):
        return getattr(time, name)


# The modules whose only use of the clock is the rate limits' window per clock minute (key and Retry-After).
_MINUTE_WINDOW_MODULES = (
    "checklists.api",
    "checklists.live",
    "checklists.mcp_server",
    "checklists.telemetry",
    "tenants.site_tokens",
)


@pytest.fixture(autouse=True)
def _rate_windows_start_with_the_test(monkeypatch):
    """A test that makes N calls against a limit of N-1 a minute expects the last one refused: one that ran across
    the end of a clock minute found a fresh window and its limit never reached (seen once in CI, a 200 where a 429 was
    due). The throttles' clock starts each test at the beginning of a minute; tests/conftest.py, not each test."""
    import importlib

    clock = _MinuteStartClock()
    for name in _MINUTE_WINDOW_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "time", clock)


@pytest.fixture(autouse=True)
def _forget_cached_tenants():
    """Each test's database starts over, so must each process's tenant cache (tenants/selectors.py), what it
    knows of queued progress pushes (checklists/tasks.py) and its cache breaker (core/breaker.py)."""
    from core.breaker import BREAKER

    tenant_cache_clear()
    forget_queued_pushes()
    BREAKER.reset()  # and the cache breaker: an earlier test's outage (a listener's last try) must not leak into it
    yield
    tenant_cache_clear()
    forget_queued_pushes()
    BREAKER.reset()


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

    def run(code: str, env: dict[str, str], *, setup: bool = True, timeout: float = 180):
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
def own_redis():
    """A redis-server of this test's own on a free port, to take down and bring back."""
    from devhost.redis import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


def use_cache(settings, url: str) -> None:
    """The shared cache (CACHE_URL: counters, flags, the permission memo) on the Redis at `url`."""
    settings.CACHE_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
                "pool_class": "core.breaker.GuardedConnectionPool",  # as settings.py: through the cache breaker
            },
        }
    }


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


@pytest.fixture
def standin(settings):
    """The simulated Jira site, install-keys server and Forge JWKS, wired into settings."""
    from tenants.auth import forge

    # A process keeps one JWKS client per URL, its keys for an hour and a refetch for an unknown kid at most once per
    # cooldown. A stand-in on a port an earlier test's used (with other keys) then met that client: its kid refused.
    forge._jwks_clients.clear()
    server = JiraStandIn(app_key=settings.APP_KEY).start()
    settings.ATLASSIAN_INSTALL_KEYS_URL = server.install_keys_url
    settings.FORGE_JWKS_URL = server.jwks_url
    settings.ALLOWED_JIRA_HOSTS = [*settings.ALLOWED_JIRA_HOSTS, server.host]
    server.app_base_url = settings.BASE_URL
    yield server
    server.stop()


@pytest.fixture
def trickle(settings):
    """A server answering one byte at a time (devhost/trickle.py), and outbound deadlines short enough to meet it. Each
    wait on the socket (OUTBOUND_TIMEOUT_SECONDS) stays far longer than its pause between bytes, so only a deadline for
    the whole exchange can end a call to it."""
    settings.OUTBOUND_TIMEOUT_SECONDS = 10.0
    settings.OUTBOUND_DEADLINE_SECONDS = 0.3
    settings.OUTBOUND_KEYS_DEADLINE_SECONDS = 0.3
    settings.PERMISSION_CHECK_TIMEOUT_SECONDS = 0.3
    server = TrickleServer().start()
    yield server
    server.stop()


@pytest.fixture
def forward_proxy():
    """A forward HTTP proxy on 127.0.0.1 recording what passed through it (devhost/forward_proxy.py). Not wired into
    settings: a test sets OUTBOUND_PROXY_URL to its url when calls should go through it."""
    server = ForwardProxy().start()
    yield server
    server.stop()


def answer_at_once(trickle, settings, body: bytes, *, status: int = 200, headers=None) -> None:
    """The trickle server answering `body` whole and at once: an odd answer, not a slow one. The deadlines go back to
    their defaults, so a loaded machine cannot turn a quick answer into a timeout."""
    trickle.answer, trickle.status, trickle.headers = body, status, headers or {}
    settings.OUTBOUND_DEADLINE_SECONDS = settings.OUTBOUND_KEYS_DEADLINE_SECONDS = 30.0
    settings.PERMISSION_CHECK_TIMEOUT_SECONDS = 3.0


def signed_install(client, standin, *, payload=None, token=None, path="/connect/installed"):
    """Send a lifecycle event through the Django test client, signed by the stand-in's install key."""
    from django.conf import settings

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

    standin.shared_secret = secrets.token_urlsafe(48)
    response = signed_install(client, standin)
    assert response.status_code == 204, response.content
    return Tenant.objects.get(client_key=standin.client_key)


CONTRACT_PROPERTY_KEYS = ("done", "total", "percent", "mandatoryOpen", "complete")


def contract_part(value):
    """The contract's five fields of a progress property (the workflow rules add theirs beside them), or None."""
    return {k: value[k] for k in CONTRACT_PROPERTY_KEYS if k in value} if isinstance(value, dict) else value


ISSUE = {"id": "10001", "key": "DEMO-1", "projectId": "10000", "typeId": "10002"}

# Bodies that are not JSON, for every door that reads one (core.jsonbody), and the answer they all get.
BAD_JSON = {
    "garbage": b"{not json",
    "not utf-8": b'{"text": "\xff\xfe"}',
    "1000 deep": b"[" * 1000 + b"]" * 1000,
    "101 deep": b'{"text": "x", "deep": ' + b"[" * 100 + b"]" * 100 + b"}",
}
NOT_JSON = {"error": "validation_failed", "fields": {"body": "is not valid JSON"}}


def issue_ref(issue=None):
    issue = issue or ISSUE
    return IssueRef(id=issue["id"], key=issue["key"], project_id=issue["projectId"], issue_type_id=issue["typeId"])


@pytest.fixture
def other_tenant(db):
    """Tenant B (charlie's site): installed directly, no stand-in needed."""
    tenant = Tenant(client_key="tenant-b-client-key", base_url="https://tenant-b.atlassian.net")
    tenant.set_shared_secret("tenant-b-shared-secret-" + "b" * 30)
    tenant.save()
    return tenant


def on_standin(tenant, standin):
    """Site B's Jira is the stand-in too (it accepts B's secret), so B's users have rights Jira can be asked about."""
    tenant.base_url = standin.base_url
    tenant.save()
    standin.other_site_secrets.append(tenant.shared_secret)
    return tenant


class Api:
    """Calls /api/v1 as one user of one site, with a panel token bound to one issue (or another credential)."""

    def __init__(self, client, tenant, account_id="557058:alice", issue=None, authorization=None, headers=None):
        self.client = client
        self.issue = issue or ISSUE
        self.headers = headers or {}  # further request headers, WSGI style (HTTP_X_FORGE_OAUTH_USER=...)
        self.authorization = authorization or "Bearer " + mint_panel_token(
            tenant=tenant, account_id=account_id, issue=issue_ref(self.issue)
        )

    def url(self, suffix="", issue_id=None):
        return f"/api/v1/issues/{issue_id or self.issue['id']}/checklist{suffix}"

    def call(self, method, path, data=None, *, version=None, content_type="application/json", raw=False):
        import json as _json

        headers = {"HTTP_AUTHORIZATION": self.authorization, **self.headers}
        if version is not None:
            headers["HTTP_IF_MATCH"] = f'"{version}"'
        body = data if raw or data is None else _json.dumps(data)
        return getattr(self.client, method)(path, data=body, content_type=content_type, **headers)

    def get(self, suffix="", issue_id=None):
        return self.client.get(self.url(suffix, issue_id), HTTP_AUTHORIZATION=self.authorization, **self.headers)

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
    """A Forge Invocation Token signed by the stand-in's Forge key, for this app and installation."""
    kw.setdefault("api_base_url", standin.base_url)  # where the user's permissions are asked
    return forge_token(
        standin.forge_keys,
        app_id=settings.FORGE_APP_ID,
        installation_id=installation,
        issue=issue,
        module_key=module_key,
        **kw,
    )


def forge_installed(client, standin, settings, system_token, **kw):
    """The Forge site's `installed` lifecycle event, which Forge itself sends (proxied, with the app system token in
    x-forge-oauth-system): how a site's system token reaches us. The API's calls come from the browser
    (requestRemote) and carry none."""
    token = fit(standin, settings, module_key="herochecklist-lifecycle", principal=None, issue=None, **kw)
    response = client.post(
        "/forge/lifecycle",
        data={"eventType": "avi:forge:installed:app"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_FORGE_OAUTH_SYSTEM=system_token,
    )
    assert response.status_code == 204, response.content
    return response


def forge_api(client, standin, settings, *, user="557058:forge-user", **kw):
    """Calls /api/v1 as the Forge panel does: the FIT, and the user's own token (appUserToken) in
    x-forge-oauth-user."""
    headers = {"HTTP_X_FORGE_OAUTH_USER": standin.user_token(user)} if user else {}
    return Api(client, None, authorization="Bearer " + fit(standin, settings, **kw), headers=headers)


@pytest.fixture
def broker_url(test_redis_url) -> str:
    """The broker start_worker uses; a test that takes the broker down overrides this with a Redis of its own."""
    return test_redis_url


@pytest.fixture
def start_worker(broker_url, transactional_db):
    """Starts real Celery workers in their own processes, on a queue of this test's own, against the real Redis and
    this test database. Returns a function: start_worker(log=None, *, processes=1, **extra_env) -> Popen (its output
    goes to `log`, a path, when given, else to WORKER_LOG). All are stopped afterwards."""
    import signal
    import uuid

    from django.db import connection

    queue = f"test-{uuid.uuid4().hex[:10]}"
    if connection.vendor == "mongodb":
        url = os.environ["DATABASE_URL"].replace("/herochecklist?", f"/{connection.settings_dict['NAME']}?")
    else:
        url = f"sqlite:///{connection.settings_dict['NAME']}"
    base_env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": broker_url,
        "CELERY_QUEUE": queue,
        "PROGRESS_SYNC_RETRY_BASE_SECONDS": "0.2",
        # Celery's Django fixup runs the system checks at each worker start (0.4 of its 2 s of CPU, most of it loading
        # every URL and view). These are the test settings, which need no check; tests/core/test_checks.py checks
        # the production ones in processes of their own, and a production worker still runs them.
        "CELERY_SKIP_CHECKS": "1",
    }
    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url", "result_backend", "task_default_queue")}

    def use_broker(**conf):
        app.conf.update(**conf)
        # Producer pools are built on first use for the broker of that moment (eager tasks of earlier tests use the
        # in-memory one): drop them so the next send connects to the broker just configured.
        app._pool = None
        app.amqp._producer_pool = None
        # The result backend is built once and kept (per thread, or for all if it is thread-safe): without this, a
        # later test's send_task still subscribed for its result on this test's Redis, stopped by then (a broken pipe
        # in the heartbeat test).
        app._backend_cache = None
        vars(app._local).pop("backend", None)

    use_broker(task_always_eager=False, broker_url=broker_url, result_backend=broker_url, task_default_queue=queue)
    workers: list[subprocess.Popen] = []

    def start(log=None, *, processes: int = 1, loglevel: str = "WARNING", **extra_env):
        """processes above 1: a prefork pool (the production shape, which enforces time limits), else the solo
        pool. loglevel INFO: the worker logs each task it receives and each run's end (celery.app.trace)."""
        worker = subprocess.Popen(
            worker_command(queue, processes=processes, loglevel=loglevel),
            cwd=ROOT,
            env={**base_env, **{k: str(v) for k, v in extra_env.items()}},
            stdout=(log or WORKER_LOG).open("a"),
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


# --- shared helpers of several test modules -------------------------------------------------------------------------


def wait_for(predicate, seconds: float = 120.0):
    """Polls until predicate() is true or `seconds` pass: generous, as a worker starting on a loaded machine is slow;
    a passing test returns as soon as the worker is done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def through_mongo_proxy():
    """The test database reached through devhost/mongoproxy.py (which can lose a command or its reply), until the
    returned context exits; yields the proxy. A lost reply costs the client its whole timeout before it gives up:
    2 s here rather than the suite's 5 s. MongoDB only."""
    import contextlib

    from django.db import connection

    from devhost.mongoproxy import MongoProxy

    @contextlib.contextmanager
    def proxied():
        host = connection.settings_dict["HOST"]
        port = int(host.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        server = MongoProxy(port).start()
        connection.close_pool()
        connection.settings_dict["HOST"] = host.replace(f":{port}/", f":{server.port}/", 1).replace(
            "timeoutMS=5000", "timeoutMS=2000"
        )
        try:
            yield server
        finally:
            server.disarm()
            connection.close_pool()
            connection.settings_dict["HOST"] = host
            server.stop()

    return proxied()


# /metrics as Prometheus reads it (tests set settings.METRICS_TOKEN = TOKEN).
TOKEN = "metrics-token-for-tests-0123456789"


def scrape(client) -> dict[tuple, float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# What makes a test reach the database: pytest-django refuses any other test a connection, so a test without one of
# these (directly or through its fixtures) cannot depend on which database the suite runs on.
DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
    "live_server",
}


def first_chunks(count: int, workers: int) -> list[int]:
    """How many tests pytest-xdist's worksteal scheduler hands each worker first: the collection cut into `workers`
    runs in order, each the pending count divided by the workers left (xdist/scheduler/worksteal.py, check_schedule).
    A worker then runs its run from the front; one that is done takes half the tail of the longest queue left."""
    sizes = []
    for index in range(workers):
        sizes.append((count - sum(sizes)) // (workers - index))
    return sizes


def spread_slow(items: list, workers: int, seconds_of) -> list:
    """The tests `seconds_of` gives a duration (the slow ones) at the front of the workers' first runs, longest first,
    each to the run with the fewest seconds so far (LPT); the rest keep their order behind them. All at the front of
    the collection, worksteal gave them all to the first worker, one after the other (171 s as marked, more than half
    of the SQLite half's wall time), and none to the other."""
    slow = sorted((item for item in items if seconds_of(item)), key=seconds_of, reverse=True)
    sizes = first_chunks(len(items), workers)
    runs: list[list] = [[] for _ in sizes]
    for item in slow:
        run = min(range(len(runs)), key=lambda index: sum(map(seconds_of, runs[index])))
        runs[run].append(item)
    if any(len(run) > size for run, size in zip(runs, sizes, strict=True)):
        return slow + [item for item in items if not seconds_of(item)]
    rest = iter(item for item in items if not seconds_of(item))
    return [
        item
        for run, size in zip(runs, sizes, strict=True)
        for item in run + [next(rest) for _ in range(size - len(run))]
    ]


def _slow_seconds(item) -> float:
    """A slow test's duration in a whole run on the reference machine (its mark's `seconds`), 0 for the others."""
    marker = item.get_closest_marker("slow")
    return marker.kwargs.get("seconds", 10) if marker else 0


def pytest_collection_modifyitems(config, items):
    """The tests marked slow run first, spread over the workers (spread_slow): one of them started last would keep
    its worker busy after the others are done.

    TEST_DATABASE_TESTS_ONLY=1 (tests/run_suite.py sets it for its MongoDB half) keeps only the tests that reach the
    database: the others ran in the SQLite half already, and a second run would only prove the same thing again."""
    if os.environ.get("TEST_DATABASE_TESTS_ONLY") == "1":
        keep, drop = [], []
        for item in items:
            fixtures = set(getattr(item, "fixturenames", ()))
            reaches = (
                item.get_closest_marker("django_db")
                or item.get_closest_marker("per_database")
                or DATABASE_FIXTURES & fixtures
            )
            # The panel in a browser: its pages and scripts do not change with the database, and every API call they
            # make has its own tests in this half; one end-to-end browser test (marked per_database) still runs here.
            if "browser" in fixtures and not item.get_closest_marker("per_database"):
                reaches = None
            (keep if reaches else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    items[:] = spread_slow(items, _worksteal_workers(config), _slow_seconds)


def _worksteal_workers(config) -> int:
    """How many xdist workers share the collection under worksteal (tests/run_suite.py's), else 1. Each worker
    collects and orders it, the same way (they must agree); the controller collects nothing. A worker's own options
    say dist=no: the controller's command line tells."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput:
        return 1
    argv = workerinput["mainargv"]
    dist = [arg.removeprefix("--dist=") for arg in argv if arg.startswith("--dist=")]
    dist += [value for flag, value in zip(argv, argv[1:], strict=False) if flag == "--dist"]
    return workerinput["workercount"] if dist[-1:] == ["worksteal"] else 1
