import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A complete, safe production environment; tests remove or spoil one value at a time.
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Kq2-secret-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "checklist.example.com",
    "BASE_URL": "https://checklist.example.com",
    "FIELD_ENCRYPTION_KEYS": "6yCNk-ebt4rUPbsKkXR3p9UH5TTpQy6vlfhdChoAWSw=",
}


@pytest.fixture
def run_django():
    """Run Python code in a fresh Django process with the given environment; returns the CompletedProcess."""

    def run(code: str, env: dict[str, str], *, setup: bool = True, timeout: float = 60):
        base = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in ("REDIS_URL",)}
        prelude = "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'herochecklist.settings')\n"
        if setup:
            prelude += "django.setup()\n"
        return subprocess.run(
            [sys.executable, "-c", prelude + code],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def test_redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.fail("TEST_REDIS_URL is not set: run the suite with `make test`")
    return url


@pytest.fixture
def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
