"""The request path's fixed costs: tenant rows cached per process (and forgotten on every write), the Forge front
door writing only what changed, the rate-limit counter in one Redis round trip, decryption memoized safely."""

import io
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import crypto, ttlcache
from core.counters import window_count
from operations import backup
from tenants.models import Tenant, TenantState
from tenants.selectors import tenant_cache_clear, tenant_for_client_key
from tests.conftest import INSTALLATION, ISSUE, Api, forge_api, forge_installed, signed_install

pytestmark = pytest.mark.django_db

ITEMS = "".join(f"- [ ] item {n}\n" for n in range(30))


def connect_api(client, tenant, standin, secret=None):
    """The panel's Connect credential: a context JWT signed with `secret` (the site's current one by default)."""
    saved = standin.shared_secret
    standin.shared_secret = secret or saved
    try:
        token = standin.context_token(ISSUE)
    finally:
        standin.shared_secret = saved
    return Api(client, tenant, authorization=f"JWT {token}")


def sql_of(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries]


def is_write(sql: str) -> bool:
    # SQL statements, or the MongoDB backend's logged calls (db.<collection>.update_many(...), insert_many(...)).
    return sql.lstrip().upper().startswith(("UPDATE", "INSERT")) or ".update_" in sql or ".insert_" in sql


def another_process_writes(tenant: Tenant, **fields) -> None:
    """What a write by another web process looks like from here: the row changes, no signal reaches this process."""
    Tenant.objects.filter(pk=tenant.pk).update(**fields)


def test_a_read_costs_one_query_and_none_for_the_site(client, tenant, standin):
    api = connect_api(client, tenant, standin)
    assert api.put_text(ITEMS).status_code == 200
    tenant_cache_clear()  # as in a process that has not seen this site yet
    with CaptureQueriesContext(connection) as cold:
        assert api.get().status_code == 200
    with CaptureQueriesContext(connection) as warm:
        body = api.get().json()
    assert len(body["items"]) == 30
    assert [sql for sql in sql_of(warm) if "tenants_tenant" in sql] == []
    assert len(warm.captured_queries) == 1, sql_of(warm)  # the checklist and its items together
    assert len(cold.captured_queries) == 3, sql_of(cold)  # and the site and its statuses, once per process


def test_with_the_cache_off_every_read_reads_the_site(client, tenant, standin, settings):
    settings.TENANT_CACHE_SECONDS = 0
    api = connect_api(client, tenant, standin)
    api.put_text(ITEMS)
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert api.get().status_code == 200
        assert len([sql for sql in sql_of(queries) if "tenants_tenant" in sql]) == 1


def test_a_reinstall_in_this_process_stops_the_old_secret_at_once(client, tenant, standin):
    old_secret = standin.shared_secret
    assert connect_api(client, tenant, standin).get().status_code == 200  # the row is now cached
    standin.shared_secret = "rotated-secret-" + "r" * 40
    assert signed_install(client, standin).status_code == 204
    assert connect_api(client, tenant, standin, secret=old_secret).get().status_code == 401
    assert connect_api(client, tenant, standin).get().status_code == 200


def test_a_new_secret_from_another_process_works_at_once_and_the_old_one_stops_with_the_entry(
    client, tenant, standin, settings
):
    settings.TENANT_CACHE_SECONDS = 1
    old_secret = standin.shared_secret
    assert connect_api(client, tenant, standin).get().status_code == 200  # cached with the old secret
    standin.shared_secret = "rotated-elsewhere-" + "e" * 40
    another_process_writes(tenant, shared_secret_encrypted=crypto.encrypt(standin.shared_secret))
    # The cached secret fails, so the row is read again: the new secret is good everywhere at once.
    assert connect_api(client, tenant, standin).get().status_code == 200
    # That re-read also refreshed the cache, so the old secret is refused from now on.
    assert connect_api(client, tenant, standin, secret=old_secret).get().status_code == 401


class Clock:
    """A stand-in for the time module as the per-process caches read it (core/ttlcache.py): time moves only when the
    test says so, so the window below is exact however slow the machine is."""

    def __init__(self):
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


def test_an_uninstall_elsewhere_counts_here_once_the_entry_expires(client, tenant, standin, settings, monkeypatch):
    # The backstop, for a write no process was told of: a raw update here, or one whose message was lost (with
    # CACHE_URL every process is told at once: tests/tenants/test_cache_invalidation.py).
    settings.TENANT_CACHE_SECONDS = 10
    clock = Clock()
    monkeypatch.setattr(ttlcache, "time", clock)
    api = connect_api(client, tenant, standin)
    assert api.get().status_code == 200
    another_process_writes(tenant, state=TenantState.UNINSTALLED, shared_secret_encrypted="")
    clock.now += 9.9
    assert api.get().status_code == 200  # the backstop's window: this process still holds the row
    clock.now += 0.2
    assert api.get().status_code == 401


def test_an_uninstall_in_this_process_counts_at_once(client, tenant, standin):
    api = connect_api(client, tenant, standin)
    panel = Api(client, tenant)
    assert api.get().status_code == 200 and panel.get().status_code == 200
    response = signed_install(
        client, standin, payload=standin.installed_payload(eventType="uninstalled"), path="/connect/uninstalled"
    )
    assert response.status_code == 204
    assert api.get().status_code == 401
    assert panel.get().status_code == 401


def test_a_disable_elsewhere_stops_panel_tokens_without_a_cache(client, tenant, settings):
    settings.TENANT_CACHE_SECONDS = 0
    panel = Api(client, tenant)
    assert panel.get().status_code == 200
    another_process_writes(tenant, state=TenantState.DISABLED)
    assert panel.get().status_code == 401


def test_callers_get_their_own_copy_of_a_cached_row(tenant):
    first = tenant_for_client_key(tenant.client_key)
    first.state = TenantState.DISABLED  # as a lifecycle view does before saving
    assert tenant_for_client_key(tenant.client_key).state == TenantState.INSTALLED


def test_a_restore_leaves_the_cached_and_stored_secret_the_live_one(client, tenant, standin, backup_dir):
    # A restore brings back data, never credentials (#15): neither the row nor this process's cached copy of it may
    # go back to the secret of the archive.
    archived_secret = standin.shared_secret
    name = backup.backup_create().name
    standin.shared_secret = "secret-after-the-backup-" + "b" * 30
    assert signed_install(client, standin).status_code == 204
    assert connect_api(client, tenant, standin).get().status_code == 200  # caches the newer row
    call_command("restore", name, "--yes", stdout=io.StringIO())
    assert connect_api(client, tenant, standin).get().status_code == 200
    assert connect_api(client, tenant, standin, secret=archived_secret).get().status_code == 401
    tenant_cache_clear()
    assert connect_api(client, tenant, standin).get().status_code == 200
    assert connect_api(client, tenant, standin, secret=archived_secret).get().status_code == 401


def test_a_forge_call_writes_the_site_only_when_the_token_brings_something_new(client, standin, settings):
    api = forge_api(client, standin, settings)
    assert api.get().status_code == 200  # first sight: the site is created
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert forge_api(client, standin, settings).get().status_code == 200
        site_queries = [sql for sql in sql_of(queries) if "tenants_tenant" in sql]
        assert not [sql for sql in site_queries if is_write(sql)], site_queries
    assert site_queries == []  # the second time the row came from the cache
    assert Tenant.objects.get(pk=tenant.pk).updated_at == tenant.updated_at

    moved = forge_api(client, standin, settings, api_base_url="https://api.atlassian.com/ex/jira/moved")
    assert moved.get().status_code == 200
    assert Tenant.objects.get(pk=tenant.pk).forge_api_base_url == "https://api.atlassian.com/ex/jira/moved"

    system_token = "forge-system-token-" + "s" * 40
    forge_installed(client, standin, settings, system_token, api_base_url="https://api.atlassian.com/ex/jira/moved")
    assert Tenant.objects.get(pk=tenant.pk).forge_system_token() == system_token


def test_an_uninstalled_forge_site_is_refused_even_when_cached(client, standin, settings):
    api = forge_api(client, standin, settings)
    assert api.get().status_code == 200
    tenant = Tenant.objects.get(installation_id=INSTALLATION)
    another_process_writes(tenant, state=TenantState.UNINSTALLED)
    settings.TENANT_CACHE_SECONDS = 0
    assert forge_api(client, standin, settings).get().status_code == 401
    assert Tenant.objects.get(pk=tenant.pk).state == TenantState.UNINSTALLED


def test_the_rate_limit_counter_is_one_redis_key_per_user_and_minute(settings, test_redis_url):
    import redis

    settings.CACHE_URL = test_redis_url
    key = f"test-window-{time.time_ns()}"
    assert [window_count(key, ttl_seconds=120) for _ in range(3)] == [1, 2, 3]
    ttl = redis.Redis.from_url(test_redis_url).ttl(f"herochecklist:{key}")
    assert 0 < ttl <= 120


def test_the_api_rate_limit_holds_through_redis(client, tenant, settings, test_redis_url):
    settings.CACHE_URL = test_redis_url
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    api = Api(client, tenant, account_id=f"557058:redis-{time.time_ns()}")
    statuses = [api.get().status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_a_memoized_decryption_never_outlives_its_key(settings):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = crypto.encrypt("the shared secret")
    assert crypto.decrypt(token) == "the shared secret"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key retired
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
