"""`make run` (python -m devhost.run) in the production shape: its own Redis, the web process, a Celery worker and
beat. Started on free ports, used through the Jira stand-in's panel like a person would, then stopped with Ctrl+C."""

import html
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from django.db import connection

from devhost.redis import free_port, redis_answers
from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="make run's own default database is SQLite; MongoDB is covered by the rest"
)


def _panel_token(jira_port: int) -> str:
    page = httpx.get(f"http://127.0.0.1:{jira_port}/browse/DEMO-1", timeout=10).text
    panel_url = html.unescape(re.search(r'<iframe[^>]+src="([^"]+)"', page).group(1))
    panel = httpx.get(panel_url, timeout=10).text
    return re.search(r'name="herochecklist-token" content="([^"]+)"', panel).group(1)


def _versions(database: str) -> list[tuple[int, int]]:
    import sqlite3

    with sqlite3.connect(database) as db:
        return db.execute("SELECT version, property_synced_version FROM checklists_checklist").fetchall()


def test_a_redis_named_by_redis_url_also_holds_the_shared_cache(monkeypatch):
    """README: `make run` uses "the one REDIS_URL names". The cache went with it only when make run started its own
    Redis; a named one left CACHE_URL empty, so every process cached alone (no shared rate limits or invalidations)."""
    from devhost.run import start_redis

    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:6394/0")
    monkeypatch.delenv("CACHE_URL", raising=False)
    assert start_redis() is None  # nothing started: the named one is used
    assert os.environ["CACHE_URL"] == "redis://:secret@127.0.0.1:6394/1"
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1:6395/4")  # one named too is kept
    start_redis()
    assert os.environ["CACHE_URL"] == "redis://127.0.0.1:6395/4"


@pytest.mark.slow(seconds=30)
def test_make_run_serves_with_its_own_redis_worker_and_beat_and_stops_them_all(tmp_path):
    database = str(tmp_path / "run.sqlite3")
    app_port, jira_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_URL", "HEROCHECKLIST_TESTING")}
    env |= {"DATABASE_URL": f"sqlite:///{database}", "APP_PORT": str(app_port), "JIRA_PORT": str(jira_port)}
    # No migrate here: devhost.run migrates a fresh database itself (the file does not exist yet).
    assert not os.path.exists(database)
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen(
        [sys.executable, "-m", "devhost.run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's Ctrl+C reaches it
    )
    output = lambda: (tmp_path / "run.log").read_text()  # noqa: E731
    try:
        assert wait_for(lambda: "HeroChecklist is running on" in output() or run.poll() is not None, 120)
        assert run.poll() is None, output()[-3000:]
        redis_port = int(re.search(r"Redis \(.+\) on 127\.0\.0\.1:(\d+)", output()).group(1))
        assert redis_answers(redis_port)

        token = _panel_token(jira_port)
        response = httpx.post(
            f"http://127.0.0.1:{app_port}/api/v1/issues/10001/checklist/items",
            json={"text": "written in make run"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        ready = httpx.get(f"http://127.0.0.1:{app_port}/readyz", timeout=10).json()
        assert ready == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}
        # The worker, not the request, wrote the property: the write returned before it, and the version is synced.
        assert wait_for(lambda: _versions(database) == [(1, 1)], 60), (_versions(database), output()[-3000:])
    finally:
        os.killpg(run.pid, signal.SIGINT)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            raise
        log.close()
    assert run.returncode == 0, output()[-3000:]
    assert not redis_answers(redis_port)
    group = subprocess.run(["pgrep", "-g", str(run.pid)], capture_output=True, text=True).stdout.split()
    assert group == [], group


def test_make_run_is_the_same_jira_site_each_time_so_checklists_survive_a_restart(tmp_path):
    """The stand-in's clientKey is kept in var/: a second `make run` re-installs the same site (its tenant, its
    checklists and templates), where a fresh key each time left the previous run's checklists under a site nobody
    could open any more."""
    from devhost.run import standin_client_key

    first = standin_client_key(tmp_path)
    assert re.fullmatch(r"devhost-[0-9a-f]{12}", first)
    assert standin_client_key(tmp_path) == first
    assert standin_client_key(tmp_path / "another") != first
