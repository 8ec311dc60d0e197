import json

import pytest
from django.db import connection
from django.test import override_settings


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_database_and_redis_answer(client, test_redis_url):
    with override_settings(REDIS_URL=test_redis_url):
        response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_redis_is_down(client, closed_port):
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    # Which dependency and what is wrong with it, in fixed words: no exception class or message (internals).
    assert response.json() == {"status": "unavailable", "errors": {"broker": "unreachable"}}


@pytest.mark.django_db
def test_readyz_probes_at_most_once_per_period_and_answers_from_the_last_run(client, test_redis_url, closed_port):
    """/readyz is public: within READYZ_CACHE_SECONDS a process answers from its last run instead of writing to the
    database and Redis again, so the broker going down shows only once the period is over (here: set to 0)."""
    from core import health

    health._last_checks = None
    try:
        with override_settings(READYZ_CACHE_SECONDS=3600, REDIS_URL=test_redis_url):
            assert client.get("/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}
        with override_settings(READYZ_CACHE_SECONDS=3600, REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"):
            cached = client.get("/readyz")
        assert cached.status_code == 200 and cached.json()["checks"]["broker"] == "ok"
        with override_settings(READYZ_CACHE_SECONDS=0, REDIS_URL=f"redis://127.0.0.1:{closed_port}/0"):
            fresh = client.get("/readyz")
        assert fresh.status_code == 503 and fresh.json()["errors"] == {"broker": "unreachable"}
    finally:
        health._last_checks = None


@pytest.mark.per_database
def test_readyz_is_503_naming_the_database_when_it_is_down(run_django, closed_port):
    # A separate process, so the database really is unreachable there (not just pretended to be).
    if connection.vendor == "mongodb":
        url = f"mongodb://127.0.0.1:{closed_port}/x?directConnection=true&serverSelectionTimeoutMS=300"
    else:
        url = "sqlite:////nonexistent-dir/db.sqlite3"
    proc = run_django(
        "from django.test import Client\nr = Client().get('/readyz')\nprint(r.status_code, r.content.decode())\n",
        {"DATABASE_URL": url},
    )
    assert proc.returncode == 0, proc.stderr
    status, body = proc.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert json.loads(body)["errors"] == {"database": "unreachable"}
