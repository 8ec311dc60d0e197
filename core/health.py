"""Liveness and readiness probes.

/readyz checks every dependency this process is configured with: the database (a read, then a write that is rolled
back, so a full disk or a read-only database shows), the broker (REDIS_URL) and the shared cache (CACHE_URL) (a
PING, then a write of a key that expires by itself, so a Redis at its maxmemory shows). The
answer names what failed in a few fixed words; the exception behind it goes to the log only, never to the caller."""

import logging
import threading
import time

import redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .db import atomic

logger = logging.getLogger(__name__)

UNREACHABLE = "unreachable"
REFUSES_WRITES = "refuses writes"
# Big enough that SQLite must allocate new pages, so a database at its size limit (or a full disk) fails it.
_PROBE_BYTES = 16384
_REDIS_PROBE_KEY = "herochecklist:readyz-probe"


@never_cache
@require_GET
def healthz(request):
    # Liveness: no I/O at all, so a slow database never gets a healthy process restarted.
    return JsonResponse({"status": "ok"})


class _RollBack(Exception):
    pass


def _failed(name: str, reason: str, exc: BaseException) -> str:
    logger.warning("readiness check failed", extra={"dependency": name, "reason": reason, "error": type(exc).__name__})
    return reason


def _write_probe(connection) -> None:
    """A write the database must accept, then undone: nothing is left behind."""
    if connection.vendor == "mongodb":
        connection.get_database()["herochecklist_readyz"].update_one(
            {"_id": "probe"}, {"$inc": {"writes": 1}}, upsert=True
        )
        return
    try:
        with atomic(), connection.cursor() as cursor:
            cursor.execute("CREATE TABLE herochecklist_readyz_probe (data BLOB)")
            cursor.execute("INSERT INTO herochecklist_readyz_probe (data) VALUES (zeroblob(%s))", [_PROBE_BYTES])
            raise _RollBack
    except _RollBack:
        pass


def _check_database() -> str | None:
    connection = connections["default"]
    try:
        if connection.vendor == "mongodb":
            connection.get_database().command("ping")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"
        return _failed("database", UNREACHABLE, exc)
    try:
        _write_probe(connection)
    except Exception as exc:
        if "database is locked" in str(exc):
            return None  # busy with other writers is not down
        return _failed("database", REFUSES_WRITES, exc)
    return None


def _check_redis(name: str, url: str) -> str | None:
    if not url:
        return None
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        try:
            client.ping()
        except Exception as exc:
            return _failed(name, UNREACHABLE, exc)
        try:
            # A Redis at its maxmemory (noeviction, as a broker must be) answers PING and refuses every write ("OOM
            # command not allowed"): no task could be queued, not even beat's sweeps, while this said ok. The key
            # goes by itself.
            client.set(_REDIS_PROBE_KEY, b"1", px=10_000)
        except Exception as exc:
            return _failed(name, REFUSES_WRITES, exc)
        return None
    finally:
        client.close()


def dependency_checks() -> dict[str, str | None]:
    """Each configured dependency and None (fine) or why it is not. Without REDIS_URL there is no broker to check
    (see README, "Running without a broker"); without CACHE_URL the cache is in process memory."""
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["broker"] = _check_redis("broker", settings.REDIS_URL)
    if settings.CACHE_URL:
        checks["cache"] = _check_redis("cache", settings.CACHE_URL)
    return checks


_last_checks: tuple[float, dict[str, str | None]] | None = None
_checking = threading.Lock()


def recent_checks() -> dict[str, str | None]:
    """dependency_checks(), run at most once per READYZ_CACHE_SECONDS in this process: /readyz is public and each run
    writes to the database and opens two Redis connections, so a flood of calls would load the very dependencies it
    reports on. Callers arriving while a run is under way wait for its answer instead of starting their own."""
    global _last_checks
    ttl = settings.READYZ_CACHE_SECONDS
    if ttl <= 0:
        return dependency_checks()
    with _checking:
        if _last_checks is not None and time.monotonic() - _last_checks[0] < ttl:
            return _last_checks[1]
        checks = dependency_checks()
        _last_checks = (time.monotonic(), checks)
        return checks


@never_cache
@require_GET
def readyz(request):
    checks = recent_checks()
    failed = {name: reason for name, reason in checks.items() if reason}
    if failed:
        return JsonResponse({"status": "unavailable", "errors": failed}, status=503)
    return JsonResponse({"status": "ok", "checks": {name: "ok" for name in checks}})
