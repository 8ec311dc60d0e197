"""
`make run`: the app on http://127.0.0.1:8000 and a simulated Jira site on http://127.0.0.1:8001 that installs it
through the real signed lifecycle. Open http://127.0.0.1:8001/browse/DEMO-1 to use the panel. Ctrl+C stops all.

The same shape as production: a real Redis (broker and shared cache, started here on a free port unless REDIS_URL
names one), a Celery worker and Celery beat beside the web process, so writes queue their Jira calls and return.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from devhost.redis import RedisServer

APP_PORT = int(os.environ.get("APP_PORT", "8000"))
JIRA_PORT = int(os.environ.get("JIRA_PORT", "8001"))


def app_environment(jira_base: str) -> dict:
    env = dict(os.environ)
    env.setdefault("BASE_URL", f"http://127.0.0.1:{APP_PORT}")
    env["ATLASSIAN_INSTALL_KEYS_URL"] = f"{jira_base}/install-keys"
    env["FORGE_JWKS_URL"] = f"{jira_base}/forge/.well-known/jwks.json"
    env["ATLASSIAN_ALL_JS_URL"] = f"{jira_base}/all.js"
    env["ALLOWED_JIRA_HOSTS"] = f"*.atlassian.net,*.jira.com,*.jira-dev.com,127.0.0.1:{JIRA_PORT}"
    env["EXTRA_FRAME_ANCESTORS"] = jira_base
    env.setdefault("PROGRESS_SYNC_DELAY_SECONDS", "1")
    return env


def standin_client_key(var_dir: Path) -> str:
    """The simulated site's clientKey, kept in var/ so every `make run` re-installs the same site: with a new key
    each run, the checklists of the last one stayed under a tenant no page could open any more."""
    path = Path(var_dir) / "devhost-client-key"
    if path.exists():
        return path.read_text().strip()
    key = f"devhost-{secrets.token_hex(6)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    return key


def wait_until_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the app exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit(f"the app did not answer on {url} within {seconds}s")


def start_redis() -> RedisServer | None:
    """A Redis of our own on a free port for broker and cache, unless REDIS_URL already names one: then the cache goes
    to that server too, in the next database (unless CACHE_URL names another). Without it each process kept a cache
    of its own, so the web process and the worker shared no rate limits, debounces or tenant invalidations."""
    if url := os.environ.get("REDIS_URL"):
        parts = urlsplit(url)
        database = int(parts.path.strip("/") or 0)
        os.environ.setdefault("CACHE_URL", urlunsplit(parts._replace(path=f"/{database + 1}")))
        return None
    redis = RedisServer().start()
    os.environ["REDIS_URL"] = redis.url(0)
    os.environ.setdefault("CACHE_URL", redis.url(1))
    print(f"  Redis ({redis.binary}) on 127.0.0.1:{redis.port}", flush=True)
    return redis


def stop_all(children: list[subprocess.Popen], seconds: float = 20) -> None:
    """SIGTERM to each (a Celery worker finishes its current task first), then SIGKILL to any still running."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + seconds
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    redis = start_redis()  # before settings load, so they see REDIS_URL and CACHE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")
    import django

    django.setup()
    from django.conf import settings

    from devhost.celery import worker_command
    from devhost.jira import JiraStandIn

    jira = JiraStandIn(JIRA_PORT, app_key=settings.APP_KEY, client_key=standin_client_key(settings.VAR_DIR)).start()
    env = app_environment(jira.base_url)
    python = sys.executable
    # Here rather than only in the Makefile, so `python -m devhost.run` on a fresh checkout has its tables too.
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, check=True)
    beat_schedule = settings.VAR_DIR / "celerybeat-schedule"
    commands = [
        [python, "manage.py", "runserver", f"127.0.0.1:{APP_PORT}", "--noreload"],
        worker_command(settings.CELERY_TASK_DEFAULT_QUEUE, processes=2),
        [python, "-m", "celery", "-A", "herochecklist", "beat", "-l", "WARNING", "-s", str(beat_schedule)],
    ]
    children = [subprocess.Popen(command, env=env) for command in commands]

    def stop(*_):
        sys.exit(0)  # the finally below stops everything

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        serve(env, jira, children, commands)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        jira.stop()
        if redis:
            redis.stop()


def serve(env: dict, jira, children: list[subprocess.Popen], commands: list[list[str]]) -> None:
    app_url = env["BASE_URL"]
    wait_until_healthy(app_url, children[0])
    response = jira.install(app_url)
    if response.status_code != 204:
        sys.exit(f"install failed: HTTP {response.status_code} {response.text}")
    print(
        f"\n  HeroChecklist is running on {app_url}"
        f"\n  Simulated Jira site:        {jira.base_url}"
        f"\n  Celery worker and beat on   {env['REDIS_URL']}"
        f"\n  Open an issue with the panel: {jira.base_url}/browse/DEMO-1\n"
        "\n  Ctrl+C stops everything.\n",
        flush=True,
    )
    # Supervise as production's process manager would: the web process ending ends the run; a worker or beat that
    # exits is started again. (Celery 5.7's worker exits when the broker goes away while it holds a countdown task:
    # its tasks come back from Redis after CELERY_VISIBILITY_TIMEOUT, and the progress sweep catches up before.)
    while children[0].poll() is None:
        time.sleep(1)
        for index, child in enumerate(children[1:], start=1):
            if child.poll() is not None:
                name = ("the web process", "the Celery worker", "Celery beat")[index]
                print(f"  {name} exited with code {child.returncode}; starting it again", flush=True)
                time.sleep(2)
                children[index] = subprocess.Popen(commands[index], env=env)


if __name__ == "__main__":
    main()
