"""Every process forgets a tenant's cached row as soon as a write to it commits (tenants/selectors.py,
core/invalidation.py): an uninstall, a disable or a new secret is refused at once by another process that held the
row warm, not TENANT_CACHE_SECONDS later. And while a process cannot hear those writes (Redis down, a forked child not
yet subscribed) it serves nothing it kept: every read goes to the database."""

import json
import logging
import multiprocessing
import os
import queue
import subprocess
import sys
import threading
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devhost.keys import connect_token
from tenants.auth import mint_panel_token
from tenants.models import Tenant, TenantState
from tenants.qsh import CONTEXT_QSH
from tenants.selectors import _cache
from tests.conftest import ISSUE, PRODUCTION_ENV, ROOT, Api, issue_ref, signed_install, use_cache, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# The other process keeps rows for an hour: without the invalidation, nothing it holds would change during a test.
WARM_SECONDS = "3600"
DEADLINE = 30  # seconds for the other process to refuse; it takes milliseconds


class OtherProcess:
    """tests/tenants/warm_process.py running beside the test: another web process, with a cache of its own."""

    def __init__(self, cache_url: str):
        if connection.vendor == "mongodb":
            database_url = os.environ["DATABASE_URL"].replace(
                "/herochecklist?", f"/{connection.settings_dict['NAME']}?"
            )
        else:
            database_url = f"sqlite:///{connection.settings_dict['NAME']}"
        env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k != "REDIS_URL"}
        env.update(
            DJANGO_SETTINGS_MODULE="herochecklist.settings",
            DATABASE_URL=database_url,
            CACHE_URL=cache_url,
            TENANT_CACHE_SECONDS=WARM_SECONDS,
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.tenants.warm_process"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._answer(180) == {"ready": True}

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _answer(self, seconds: float = 60) -> dict:
        try:
            return json.loads(self.lines.get(timeout=seconds))
        except queue.Empty:
            raise AssertionError(f"the other process did not answer (exit code {self.proc.poll()})") from None

    def ask(self, **request) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def warm(self, door: str, token: str) -> None:
        """Waits until the other process accepts `token` from its cache, as a busy web process would."""
        assert wait_for(lambda: self.ask(door=door, token=token) == {"ok": True, "tenant_queries": 0}, DEADLINE)

    def refuses(self, door: str, token: str) -> bool:
        """Polls the other process until it refuses `token`; False if it still accepts it after DEADLINE seconds."""
        return bool(wait_for(lambda: not self.ask(door=door, token=token)["ok"], DEADLINE))

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def other_process(settings, test_redis_url):
    use_cache(settings, test_redis_url)  # this process publishes where the other one listens
    other = OtherProcess(test_redis_url)
    yield other
    other.stop()


def context_token(standin, secret=None) -> str:
    return connect_token(
        secret=secret or standin.shared_secret,
        client_key=standin.client_key,
        qsh=CONTEXT_QSH,
        context={"jira": {"issue": {"id": ISSUE["id"], "key": ISSUE["key"]}, "project": {"id": ISSUE["projectId"]}}},
    )


def panel_token(tenant) -> str:
    return mint_panel_token(tenant=tenant, account_id="557058:alice", issue=issue_ref())


def lifecycle(client, standin, event: str):
    """A Connect lifecycle call from Jira: uninstalled signed by Atlassian's install key, the others by the site."""
    path = f"/connect/{event}"
    if event == "uninstalled":
        return signed_install(client, standin, payload=standin.installed_payload(eventType=event), path=path)
    token = connect_token(secret=standin.shared_secret, client_key=standin.client_key, method="POST", path=path)
    return client.post(
        path,
        data=standin.installed_payload(eventType=event),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"JWT {token}",
    )


# --- another process holding the row warm refuses at once -------------------------------------------------------------


def test_an_uninstall_is_refused_at_once_by_another_process(client, tenant, standin, other_process):
    connect, panel = context_token(standin), panel_token(tenant)
    other_process.warm("connect", connect)
    other_process.warm("panel", panel)
    assert lifecycle(client, standin, "uninstalled").status_code == 204
    assert other_process.refuses("connect", connect)
    assert other_process.refuses("panel", panel)


def test_a_disable_is_refused_at_once_by_another_process(client, tenant, standin, other_process):
    connect, panel = context_token(standin), panel_token(tenant)
    other_process.warm("connect", connect)
    other_process.warm("panel", panel)
    assert lifecycle(client, standin, "disabled").status_code == 204
    assert Tenant.objects.get(pk=tenant.pk).state == TenantState.DISABLED
    assert other_process.refuses("panel", panel)
    assert other_process.refuses("connect", connect)


def test_a_replaced_secret_is_refused_at_once_by_another_process(client, tenant, standin, other_process):
    old = context_token(standin)
    other_process.warm("connect", old)
    standin.shared_secret = "the-reinstall-s-new-secret-" + "n" * 30
    assert signed_install(client, standin).status_code == 204  # a reinstall: Jira sends a new secret
    assert other_process.refuses("connect", old)
    assert other_process.ask(door="connect", token=context_token(standin))["ok"]


# --- Redis down: the cache is bypassed, and used again once the listener is back --------------------------------------


def tenant_reads(api) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get().status_code == 200
    return sum("tenants_tenant" in q["sql"] for q in queries.captured_queries)


def test_with_redis_down_every_read_asks_the_database_until_the_listener_is_back(
    client, tenant, settings, own_redis, caplog
):
    use_cache(settings, own_redis.url())
    settings.TENANT_CACHE_SECONDS = 3600
    api = Api(client, tenant)
    assert wait_for(lambda: tenant_reads(api) == 0, DEADLINE)  # subscribed, and the row kept
    own_redis.stop()
    # A disable that no process could be told of (another node's write, with Redis away): the database's answer,
    # as soon as this process has noticed that Redis is gone.
    Tenant.objects.filter(pk=tenant.pk).update(state=TenantState.DISABLED)
    assert wait_for(lambda: api.get().status_code == 401, DEADLINE)
    Tenant.objects.filter(pk=tenant.pk).update(state=TenantState.ENABLED)
    assert [tenant_reads(api) for _ in range(2)] == [1, 1]  # nothing is kept while nothing can be heard
    own_redis.start()
    assert wait_for(lambda: tenant_reads(api) == 0, DEADLINE)  # subscribed again, and the row kept again


def test_a_write_with_redis_down_succeeds_and_logs_the_lost_message_without_secrets(
    client, tenant, standin, settings, own_redis, caplog
):
    use_cache(settings, own_redis.url())
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="core.invalidation"):
        assert lifecycle(client, standin, "disabled").status_code == 204
    assert Tenant.objects.get(pk=tenant.pk).state == TenantState.DISABLED
    lost = [r for r in caplog.records if r.getMessage().startswith("cache invalidation not published")]
    assert lost and lost[0].keys >= 2
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert standin.shared_secret not in logged


# --- a forked child hears on its own --------------------------------------------------------------------------------


def _kept(key, value) -> bool:
    """Whether the cache keeps `value` for key once read: the second read must not load."""
    return _cache.get(key, lambda: value) == value and _cache.get(key, lambda: "read again") == value


def _forked_child(key, pipe) -> None:
    seen = [_cache.get(key, lambda: "read by the child")]  # the parent's entry is not served before it subscribes
    seen.append(bool(wait_for(lambda: _kept(key, "kept by the child"), DEADLINE)))
    pipe.send(seen)
    pipe.recv()  # the parent has published a forget of the key
    pipe.send(bool(wait_for(lambda: _cache.get(key, lambda: "after the forget") == "after the forget", DEADLINE)))


def test_a_forked_child_serves_nothing_of_its_parent_and_subscribes_on_its_own(settings, test_redis_url):
    use_cache(settings, test_redis_url)
    key = ("test", uuid.uuid4().hex)
    assert wait_for(lambda: _kept(key, "kept by the parent"), DEADLINE)
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_forked_child, args=(key, theirs))
    child.start()
    try:
        assert ours.poll(DEADLINE * 2)
        assert ours.recv() == ["read by the child", True]
        _cache.forget_everywhere([key])
        ours.send("published")
        assert ours.poll(DEADLINE * 2)
        assert ours.recv() is True  # the child heard the parent's forget
    finally:
        child.join(DEADLINE)
        if child.is_alive():
            child.kill()
    assert _cache.get(key, lambda: "the parent's own forget") == "the parent's own forget"
