"""
`make run`: the app on http://127.0.0.1:8000 and a simulated Jira site on http://127.0.0.1:8001 that installs it
through the real signed lifecycle. Open http://127.0.0.1:8001/browse/DEMO-1 to use the panel. Ctrl+C stops all.
"""

import os
import signal
import subprocess
import sys
import time

import httpx

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


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")
    import django

    django.setup()
    from django.conf import settings

    from devhost.jira import JiraStandIn

    jira = JiraStandIn(JIRA_PORT, app_key=settings.APP_KEY).start()
    env = app_environment(jira.base_url)
    python = sys.executable
    children = [subprocess.Popen([python, "manage.py", "runserver", f"127.0.0.1:{APP_PORT}", "--noreload"], env=env)]
    if env.get("REDIS_URL"):
        children.append(
            subprocess.Popen(
                [python, "-m", "celery", "-A", "herochecklist", "worker", "-l", "INFO", "-c", "2"], env=env
            )
        )

    def stop(*_):
        for child in children:
            child.terminate()
        jira.stop()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    app_url = env["BASE_URL"]
    wait_until_healthy(app_url, children[0])
    response = jira.install(app_url)
    if response.status_code != 204:
        print(f"install failed: HTTP {response.status_code} {response.text}", file=sys.stderr)
        stop()
    print(
        f"\n  HeroChecklist is running on {app_url}"
        f"\n  Simulated Jira site:        {jira.base_url}"
        f"\n  Open an issue with the panel: {jira.base_url}/browse/DEMO-1\n"
        "\n  Ctrl+C stops everything.\n",
        flush=True,
    )
    while all(child.poll() is None for child in children):
        time.sleep(1)
    stop()


if __name__ == "__main__":
    main()
