"""The run of bench/sync, imported by bench/sync.py once it has set the environment it derives from its arguments:
importing this configures Django from that environment (bench/django_setup.py)."""

import argparse
import math
import os
import subprocess
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

import bench.django_setup  # noqa: F401 (configures Django before our apps are imported)
from contacts import services
from contacts.models import Contact, SyncState
from devhost.celery import worker_command
from devhost.hubspot import HubSpotStandIn
from devhost.marketplace import license_record

ROOT = Path(__file__).resolve().parent.parent


def run(args: argparse.Namespace, env: dict[str, str], queue: str, redis_proc: subprocess.Popen | None) -> None:
    call_command("migrate", verbosity=0)
    hub = HubSpotStandIn(limit=args.limit, window=args.window).start()
    # Our limiter uses the account's whole limit: each call holds its slot until its answer (contacts/ratelimit.py).
    ours = args.limit
    worker_env = {
        **env,
        "HUBSPOT_BASE_URL": hub.base_url,
        "HUBSPOT_ACCESS_TOKEN": hub.token,
        "HUBSPOT_RATE_LIMIT": str(ours),
    }
    os.environ.update(worker_env)
    settings.HUBSPOT_ACCESS_TOKEN = hub.token
    workers = subprocess.Popen(
        worker_command(queue, processes=args.workers),
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        records = [license_record(n) for n in range(args.contacts // 2)]
        started = time.monotonic()  # the stand-in stamps calls with the same clock
        services.license_ingest(records=records)  # queues the sync itself, after commit
        ingested = time.monotonic()
        while Contact.objects.filter(sync_state=SyncState.PENDING).exists():
            if time.monotonic() - started > 3600:
                raise SystemExit("gave up after an hour")
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        pushing = time.monotonic() - ingested
    finally:
        workers.terminate()
        workers.wait(timeout=30)
        hub.stop()
        if redis_proc:
            redis_proc.terminate()
    upserts = [c for c in hub.calls if c.path.endswith("/batch/upsert")]
    batches = math.ceil(args.contacts / 100)
    # With a rolling window, `limit` calls may go at once, then `limit` more each window: the fastest possible.
    minimum = max(0, math.ceil(batches / args.limit) - 1) * args.window
    synced = Contact.objects.filter(sync_state=SyncState.SYNCED).count()
    rejected = sum(1 for c in hub.calls if c.status == 429)
    print(
        f"bench/sync: {args.contacts} contacts, {batches} batches of 100, HubSpot limit {args.limit} per "
        f"{args.window:.0f} s (ours {ours}), {args.workers} worker processes"
    )
    print(f"  ingest + push         {elapsed:8.1f} s (push phase {pushing:.1f} s)")
    print(f"  theoretical minimum   {minimum:8.1f} s for {batches} calls at the limit")
    print(f"  push / minimum        {pushing / minimum if minimum else float('nan'):8.2f}")
    print(
        f"  calls: {len(upserts)} upserts, {rejected} rejected with 429, max {hub.max_calls_in_any_window()} "
        f"in any {args.window:.0f} s window"
    )
    print(f"  synced {synced} of {args.contacts}; HubSpot holds {len(hub.contacts)} contacts")
    # Where the time went: ingestion ends at +{ingest}; a window after the first call, the second hundred may go.
    at = sorted(c.at - started for c in upserts)
    marks = {"first": 0, f"{args.limit}th": args.limit - 1, f"{args.limit + 1}st": args.limit, "last": len(at) - 1}
    shown = ", ".join(f"{name} +{at[i]:.1f} s" for name, i in marks.items() if 0 <= i < len(at))
    print(f"  upserts: {shown}; ingestion ended +{ingested - started:.1f} s")
