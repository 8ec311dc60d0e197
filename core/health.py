"""Liveness and readiness probes."""

import redis
from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request):
    # Liveness: no I/O at all, so a slow database never gets a healthy process restarted.
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        connection = connections["default"]
        if connection.vendor == "mongodb":
            connection.get_database().command("ping")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure means "not ready"; the class name is enough to act on
        return f"database unreachable ({type(exc).__name__})"


def _check_broker() -> str | None:
    if not settings.REDIS_URL:
        return None  # tasks run eagerly in-process: there is no broker to be down
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
        return None
    except Exception as exc:
        return f"broker unreachable ({type(exc).__name__})"


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _check_database(), "broker": _check_broker()}
    failed = {name: reason for name, reason in checks.items() if reason}
    if failed:
        return JsonResponse({"status": "unavailable", "errors": failed}, status=503)
    return JsonResponse({"status": "ok", "checks": {name: "ok" for name in checks}})
