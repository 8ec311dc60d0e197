"""The app in production mode (DEBUG off, gunicorn, fingerprinted gzip static files) plus the Jira stand-in,
on 127.0.0.1 only, for the benchmarks. Starts clean each time and stops everything it started."""

import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_BASE_URL = "https://checklist.bench.invalid"  # declared baseUrl; we reach the app over plain loopback
BENCH_CACHE_URL = "redis://127.0.0.1:6379/13"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    def __init__(self, *, workers: int = 4, database_url: str = "", gunicorn_args: tuple[str, ...] = ()):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")
        import django

        django.setup()
        import logging

        logging.getLogger("httpx").setLevel(logging.WARNING)
        from devhost.jira import JiraStandIn

        self.tmp = Path(tempfile.mkdtemp(prefix="herochecklist-bench-"))
        self.jira = JiraStandIn(app_key="io.herochecklist.bench").start()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "ALLOWED_HOSTS": "127.0.0.1",
            "BASE_URL": PUBLIC_BASE_URL,
            "APP_KEY": "io.herochecklist.bench",
            "DATABASE_URL": database_url or f"sqlite:///{self.tmp / 'bench.sqlite3'}",
            "ATLASSIAN_INSTALL_KEYS_URL": self.jira.install_keys_url,
            "ATLASSIAN_ALL_JS_URL": f"{self.jira.base_url}/all.js",
            "ALLOWED_JIRA_HOSTS": self.jira.host,
            "EXTRA_FRAME_ANCESTORS": self.jira.base_url,
            "LOG_LEVEL": "WARNING",
            "API_RATE_LIMIT_PER_MINUTE": "100000000",
            # As in production: the shared Redis cache (rate limits, tenant rows), on a database of its own.
            "CACHE_URL": BENCH_CACHE_URL,
        }
        self.env.pop("REDIS_URL", None)
        self.workers = workers
        # BENCH_GUNICORN_ARGS (for example "--worker-class gthread --threads 4") tries another server setup.
        self.gunicorn_args = (*gunicorn_args, *shlex.split(os.environ.get("BENCH_GUNICORN_ARGS", "")))
        self.redis_proc = None
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL
        )

    def start(self) -> "Stack":
        sys.path.insert(0, str(ROOT / "tests"))
        from run_suite import ensure_redis

        self.redis_proc = ensure_redis()
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput", "--clear")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "herochecklist.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(self.workers),
                "--access-logfile",
                "-",
                "--log-level",
                "warning",
                *self.gunicorn_args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("gunicorn did not come up")
        response = self.jira.install(self.url, audience=PUBLIC_BASE_URL)
        if response.status_code != 204:
            raise SystemExit(f"install failed: {response.status_code} {response.text}")
        return self

    def seed_checklist(self, authorization: dict, items: int = 20, issue_id: str = "10001") -> str:
        """Give one issue a checklist of `items` items through the API. Returns the checklist URL."""
        url = f"{self.url}/api/v1/issues/{issue_id}/checklist"
        text = "".join(f"- [ ] Checklist item {n} with a **bit** of text\n" for n in range(items))
        response = httpx.put(
            f"{url}/text", content=text.encode(), headers={**authorization, "Content-Type": "text/plain"}
        )
        response.raise_for_status()
        return url

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the biggest web worker."""
        peaks = []
        for pid in self.worker_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks, default=0.0)

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=15)
        self.jira.stop()
        if self.redis_proc:
            self.redis_proc.terminate()
        shutil.rmtree(self.tmp, ignore_errors=True)
