"""core.counters.window_take: the API's rate limit, paid in batches by busy callers, never above its limit."""

import os
import socket
import time

import pytest
import redis

from core import counters
from tests.core.test_outages import metric


@pytest.fixture
def key(settings, test_redis_url):
    settings.CACHE_URL = test_redis_url
    return f"test-take-{time.time_ns()}"


def test_processes_taking_tokens_in_batches_never_pass_more_than_the_limit(key, monkeypatch):
    processes: list[dict] = [{}, {}, {}]  # each process's tokens in hand
    passed = 0
    for n in range(600):
        monkeypatch.setattr(counters, "_leases", processes[n % 3])
        passed += counters.window_take(key, limit=200, ttl_seconds=120)
    held = sum(leases[key][0] for leases in processes)
    assert passed + held == 200  # every token below the limit is spent or in hand: none made up, none lost
    assert passed >= 200 - 3 * 2  # near the limit a process takes at most an eighth of what is left


def test_a_small_limit_is_counted_call_by_call(key):
    assert [counters.window_take(key, limit=3, ttl_seconds=120) for _ in range(5)] == [True] * 3 + [False] * 2


def test_a_busy_caller_spends_its_batch_without_asking_redis_and_fails_open_after(key, settings, closed_port):
    calls = counters.LEASE_AFTER + 1  # the call after the first LEASE_AFTER takes a batch of MAX_LEASE
    assert all(counters.window_take(key, limit=10_000, ttl_seconds=120) for _ in range(calls))
    settings.CACHE_URL = f"redis://127.0.0.1:{closed_port}/0"  # the cache goes away
    before = metric("herochecklist_rate_limit_fail_open_total")
    assert all(counters.window_take(key, limit=10_000, ttl_seconds=120) for _ in range(counters.MAX_LEASE - 1))
    assert metric("herochecklist_rate_limit_fail_open_total") == before  # tokens in hand: Redis never asked
    assert counters.window_take(key, limit=10_000, ttl_seconds=120) is True  # none left: fails open, counted
    assert metric("herochecklist_rate_limit_fail_open_total") == before + 1


def test_a_flag_is_raised_once_until_it_is_cleared(key):
    assert counters.flag_add(key, ttl_seconds=30) is True
    assert counters.flag_add(key, ttl_seconds=30) is False  # up already: this call raised nothing
    client = counters.redis_client(counters.settings.CACHE_URL)
    assert 0 < client.ttl(f"herochecklist:{key}") <= 30
    counters.flag_clear(key)
    assert counters.flag_add(key, ttl_seconds=30) is True


def test_a_flag_is_raised_on_a_fresh_connection_after_redis_restarts(settings, own_redis):
    # The pooled connection dies with the server: the SET is sent again on a new one, as redis-py's own command
    # layer does, instead of failing the write's after-commit work once per dead connection.
    settings.CACHE_URL = own_redis.url()
    assert counters.flag_add("restart", ttl_seconds=30) is True
    own_redis.stop()
    own_redis.start()  # empty: the flag went with the old server
    assert counters.flag_add("restart", ttl_seconds=30) is True
    assert counters.flag_add("restart", ttl_seconds=30) is False


def test_a_forked_child_raises_flags_on_a_connection_of_its_own(key):
    # Each thread keeps one connection for flags; a forked worker must never send on its parent's socket (two
    # processes reading one socket would take each other's replies).
    assert counters.flag_add(key, ttl_seconds=30) is True
    client = counters.redis_client(counters.settings.CACHE_URL)
    parents = counters._own_connection(client)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running the parent's exit handlers
        try:
            own = counters._own_connection(client) is not parents
            os.write(write, b"1" if own and counters.flag_add(key, ttl_seconds=30) is False else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert counters.flag_add(key, ttl_seconds=30) is False  # the parent's connection still answers its own commands


def test_a_flag_refused_by_redis_raises_the_clients_own_error_and_the_next_one_is_raised(settings, own_redis):
    settings.CACHE_URL = own_redis.url()
    client = counters.redis_client(own_redis.url())
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # every write refused: "-OOM command not allowed ..."
    with pytest.raises(redis.exceptions.OutOfMemoryError) as refused:
        client.set("herochecklist:full", 1, ex=30, nx=True)
    with pytest.raises(redis.exceptions.OutOfMemoryError) as ours:
        counters.flag_add("full", ttl_seconds=30)
    assert str(ours.value) == str(refused.value)
    client.config_set("maxmemory", 0)
    assert counters.flag_add("full", ttl_seconds=30) is True  # the next command reads its own reply
    assert counters.flag_add("full", ttl_seconds=30) is False


def test_a_cache_that_never_answers_is_waited_for_once_as_the_client_waits(settings):
    # A hung Redis (or a silent peer): the client connects, waits for its handshake's reply until the timeout, and
    # gives up. The flag must do the same, not wait a second timeout on a second connection inside a user's write.
    silent = socket.socket()  # listens, never accepts: the kernel completes each connection into its backlog
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    silent.setblocking(False)

    def connections() -> int:
        count = 0
        while True:
            try:
                silent.accept()[0].close()
            except BlockingIOError:
                return count
            count += 1

    settings.CACHE_TIMEOUT_SECONDS = 0.2
    settings.CACHE_BREAKER_SECONDS = 0  # the client's own waits, each call's (the breaker would skip the second)
    settings.CACHE_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    try:
        with pytest.raises(redis.TimeoutError):
            counters.redis_client(settings.CACHE_URL).set("herochecklist:silent", 1, ex=30, nx=True)
        assert connections() == 1
        with pytest.raises(redis.TimeoutError):
            counters.flag_add("silent", ttl_seconds=30)
        assert connections() == 1  # one connection, one wait
    finally:
        silent.close()


def test_a_flag_raised_with_a_value_tells_each_caller_what_its_raiser_stored(key):
    assert counters.flag_add_or_read(key, ttl_seconds=30, value=b"first") == (True, b"first")
    assert counters.flag_add_or_read(key, ttl_seconds=30, value=b"second") == (False, b"first")  # not replaced
    counters.flag_clear(key)
    assert counters.flag_add_or_read(key, ttl_seconds=30, value=b"third") == (True, b"third")


def test_a_refused_flag_with_a_value_leaves_no_reply_for_the_next_call(settings, own_redis):
    # The SET and the GET go in one send: when Redis refuses the SET, the GET's reply must not be read as the answer
    # to the next call's SET.
    settings.CACHE_URL = own_redis.url()
    client = counters.redis_client(own_redis.url())
    client.set("herochecklist:full", b"before", ex=30)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        counters.flag_add_or_read("full", ttl_seconds=30, value=b"refused")
    client.config_set("maxmemory", 0)
    client.delete("herochecklist:full")
    assert counters.flag_add_or_read("full", ttl_seconds=30, value=b"after") == (True, b"after")
