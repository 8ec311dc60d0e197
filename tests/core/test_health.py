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
