"""`make run` on a fresh machine installs requirements.txt alone (the Makefile's .venv/.runtime), while the tests run
where requirements-dev.txt is installed too. A distribution that the web process, the Celery worker or beat imports,
but that only a test tool brings in, passes every test and still breaks `make run` and production: kombu's Redis
transport imports `packaging`, which only its `redis` extra declares and only pytest brought here, so the worker
and beat of a fresh `make run` exited and were restarted forever. So every distribution those processes import must
be in requirements.txt's own dependency closure, extras included."""

import importlib.metadata as metadata
import json
import os
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

# What a web process and a worker import: the settings, every URL's view, the tasks, and the broker's transport and
# the result backend that REDIS_URL selects (built, not connected: nothing listens on that port). It runs as if only
# requirements.txt were installed: modules of any other distribution cannot be imported (a library that tries one
# and does without it, as kombu does with PyYAML, does without it here too).
IMPORTS = """
import importlib.abc, json, sys

class DevOnly(importlib.abc.MetaPathFinder):
    blocked = set(json.loads(sys.argv[1]))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ImportError(f"{name} is installed only by requirements-dev.txt", name=name)

sys.meta_path.insert(0, DevOnly())
import django
django.setup()
import herochecklist.urls
from herochecklist.celery import app
app.loader.import_default_modules()
app.connection_for_write().transport
app.backend
"""


def runtime_closure() -> set[str]:
    """The distributions requirements.txt installs: its lines and what they require, with the extras asked for."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in (raw.partition("#")[0].strip() for raw in lines) if line]
    extras_of: dict[str, set[str]] = {}
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in extras_of and set(requirement.extras) <= extras_of[name]:
            continue
        extras = extras_of.setdefault(name, set())
        extras |= set(requirement.extras)
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras | {""}):
                pending.append(needed)
    return set(extras_of)


def test_what_the_app_and_its_worker_import_is_installed_by_requirements_txt(tmp_path, closed_port):
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "HEROCHECKLIST_TESTING")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "herochecklist.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
    }
    closure = runtime_closure()
    dev_only = [
        module
        for module, providers in metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in closure for d in providers)
    ]
    command = [sys.executable, "-c", IMPORTS, json.dumps(dev_only)]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
