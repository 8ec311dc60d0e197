"""The app in production mode (DEBUG off, gunicorn or granian, fingerprinted gzip static files, the Redis cache, a
Redis broker with a real Celery worker taking the queued tasks) plus the Jira stand-in, on 127.0.0.1 only, for the
benchmarks. Starts clean each time and stops everything it started."""

import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from devhost.redis import free_port

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_BASE_URL = "https://checklist.bench.invalid"  # declared baseUrl; we reach the app over plain loopback
# The Redis run_suite.ensure_redis answers on (TEST_REDIS_PORT, default 6379); cache and broker get a database each.
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT") or 6379)
BENCH_CACHE_URL = f"redis://127.0.0.1:{REDIS_PORT}/13"
BENCH_BROKER_URL = f"redis://127.0.0.1:{REDIS_PORT}/12"
SERVERS = ("gunicorn", "granian")


def server_command(server: str, target: str, port: int, *, workers: int, threads: int = 1) -> list[str]:
    """The command line of one web server serving the WSGI callable `target` ("module:name") on 127.0.0.1:port.
    gunicorn: sync workers (one request at a time, no keep-alive), or gthread with `threads` > 1. granian: Rust
    HTTP/1 with keep-alive, `threads` blocking threads per worker running the WSGI app."""
    bin_dir = Path(sys.executable).parent
    if server == "gunicorn":
        threaded = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else []
        return [str(bin_dir / "gunicorn"), target, "-b", f"127.0.0.1:{port}", "-w", str(workers), *threaded]
    if server == "granian":
        return [
            str(bin_dir / "granian"),
            *("--interface", "wsgi", "--http", "1", "--no-ws", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers), "--blocking-threads", str(threads), "--log-level", "warning", target),
        ]
    raise ValueError(f"unknown server {server!r}")


def wait_until_up(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 300  # a shared machine under load can take minutes to import Django
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not come up")


class Stack:
    def __init__(
        self,
        *,
        workers: int = 4,
        database_url: str = "",
        gunicorn_args: tuple[str, ...] = (),
        server: str = "gunicorn",
        threads: int = 1,
        broker: bool = True,
    ):
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
        if broker:
            # As in production: writes queue their Jira property push, a worker process takes it.
            self.env["REDIS_URL"] = BENCH_BROKER_URL
            self.env["CELERY_QUEUE"] = f"bench-{uuid.uuid4().hex[:8]}"
        self.server, self.threads = server, threads
        self.workers = workers
        self.worker_proc: subprocess.Popen | None = None
        self.extra: list[subprocess.Popen] = []
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
        command = server_command(
            self.server, "herochecklist.wsgi:application", self.port, workers=self.workers, threads=self.threads
        )
        if self.server == "gunicorn":
            command += ["--access-logfile", "-", "--log-level", "warning", *self.gunicorn_args]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until_up(f"{self.url}/healthz", self.proc, self.server)
        if "REDIS_URL" in self.env:
            from devhost.celery import worker_command

            self.worker_proc = subprocess.Popen(
                worker_command(self.env["CELERY_QUEUE"]),
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        response = self.jira.install(self.url, audience=PUBLIC_BASE_URL)
        if response.status_code != 204:
            raise SystemExit(f"install failed: {response.status_code} {response.text}")
        return self

    def serve(self, target: str, *, server: str = "", workers: int = 0, threads: int = 0) -> str:
        """Another WSGI app (bench/trivial.py's physical limit, or the app itself on another server) with the stack's
        environment, by default on the same server, workers and threads as the app. Returns its base URL; stopped
        with the stack."""
        port = free_port()
        command = server_command(
            server or self.server, target, port, workers=workers or self.workers, threads=threads or self.threads
        )
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.extra.append(proc)
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, target)
        return f"http://127.0.0.1:{port}"

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.threads > 1 else ""
        kind = " sync" if self.server == "gunicorn" and self.threads == 1 else ""
        return f"{self.server} {self.workers}{kind} workers{threads}"

    def seed_checklist(self, authorization: dict, items: int = 20, issue_id: str = "10001") -> str:
        """Give one issue a checklist of `items` items through the API. Returns the checklist URL."""
        url = f"{self.url}/api/v1/issues/{issue_id}/checklist"
        text = "".join(f"- [ ] Checklist item {n} with a **bit** of text\n" for n in range(items))
        response = httpx.put(
            f"{url}/text", content=text.encode(), headers={**authorization, "Content-Type": "text/plain"}, timeout=120
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
        for proc in (self.proc, self.worker_proc, *self.extra):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.jira.stop()
        if self.redis_proc:
            self.redis_proc.terminate()
        shutil.rmtree(self.tmp, ignore_errors=True)
