"""
bench/sync: push 20,000 Marketplace contacts to the local HubSpot stand-in through real Celery workers and the
real Redis, at the stand-in's limit of 100 calls per 10 s. Prints the elapsed time against the theoretical
minimum that limit allows (the same run), and how many calls HubSpot rejected with 429 (goal: none).
"""

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--limit", type=int, default=100, help="HubSpot's calls per window")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="Celery worker processes")
    parser.add_argument("--worker-log", default="", help="write the workers' log (INFO: every task's time) here")
    parser.add_argument("--push-only", action="store_true", help="read the whole export, then start the workers")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from run_suite import ensure_redis

    redis_proc = ensure_redis()
    tmp = Path(tempfile.mkdtemp(prefix="herochecklist-sync-"))
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'sync.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/9",
        "CACHE_URL": "redis://127.0.0.1:6379/10",  # production's shape: one cache every process shares
        "CELERY_QUEUE": queue,
        "HUBSPOT_RATE_LIMIT_KEY": queue,
        "HUBSPOT_RATE_WINDOW_SECONDS": str(args.window),
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",  # production's shape: with DEBUG on, Django logs every query the workers make
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "herochecklist.settings"
    from bench.sync_run import run  # only now: it configures Django, from the environment set above

    try:
        run(args, env, queue, redis_proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # 23 MB of SQLite per run of 20,000 contacts


if __name__ == "__main__":
    main()
