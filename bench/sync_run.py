"""The run of bench/sync, imported by bench/sync.py once it has set the environment it derives from its arguments:
importing this configures Django from that environment (bench/django_setup.py)."""

import argparse
import math
import os
import subprocess
import time
from pathlib import Path

import redis
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
    # A run's flags (a sync queued, not started) must not outlive it: its queue is gone with it.
    redis.Redis.from_url(env["CACHE_URL"]).flushdb()
    log = open(args.worker_log, "w") if args.worker_log else subprocess.DEVNULL  # noqa: SIM115 (closed with the run)

    def start_workers() -> subprocess.Popen:
        return subprocess.Popen(
            worker_command(queue, processes=args.workers, loglevel="INFO" if args.worker_log else "WARNING"),
            cwd=ROOT,
            env=worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    # Pipelined (production): the workers push while the export is read. --push-only: the whole export is read first
    # (its syncs wait in the queue), then the workers start: HubSpot's limit and our push alone set the pace.
    workers = None if args.push_only else start_workers()
    try:
        records = [license_record(n) for n in range(args.contacts // 2)]
        started = time.monotonic()  # the stand-in stamps calls with the same clock
        services.license_ingest(records=records)  # queues the syncs itself, after each commit
        ingested = time.monotonic()
        read_cpu = _own_cpu_seconds()
        workers = workers or start_workers()
        while Contact.objects.filter(sync_state=SyncState.PENDING).exists():
            if time.monotonic() - started > 3600:
                raise SystemExit("gave up after an hour")
            time.sleep(0.05)  # the end is seen within 50 ms (half a second was 5% of the minimum)
        done = time.monotonic()
        worker_cpu = _tree_cpu_seconds(workers.pid)
    finally:
        if workers:
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
    at = sorted(c.at - started for c in upserts)
    # The push: from HubSpot's first call to the last contact stored as synced.
    pushing = done - started - at[0] if at else float("nan")
    mode = "push only (the export read first, then the workers started)" if args.push_only else "pipelined"
    print(
        f"bench/sync: {args.contacts} contacts, {batches} batches of 100, HubSpot limit {args.limit} per "
        f"{args.window:.0f} s (ours {ours}), {args.workers} worker processes, {mode}"
    )
    print(f"  ingest + push         {done - started:8.1f} s (the export read in {ingested - started:.1f} s)")
    print(f"  after the export      {done - ingested:8.1f} s until every contact is synced")
    print(f"  push                  {pushing:8.1f} s from the first call to the last contact synced")
    if args.push_only:
        print(f"  theoretical minimum   {minimum:8.1f} s for {batches} calls at the limit")
        print(f"  push / minimum        {pushing / minimum if minimum else float('nan'):8.2f}")
    else:  # the calls went out while the export was read, at its pace: --push-only measures the push on its own
        print(f"  after the export / the limit's minimum for the calls  {(done - ingested) / minimum:.2f}")
    print(
        f"  calls: {len(upserts)} upserts, {rejected} rejected with 429, max {hub.max_calls_in_any_window()} "
        f"in any {args.window:.0f} s window"
    )
    print(f"  synced {synced} of {args.contacts}; HubSpot holds {len(hub.contacts)} contacts")
    print(
        f"  CPU: workers {worker_cpu:.1f} s ({worker_cpu / max(1, len(upserts)) * 1000:.0f} ms per call); this process "
        f"{read_cpu:.1f} s reading the export, then {_own_cpu_seconds() - read_cpu:.1f} s (the stand-in, polling)"
    )
    # Where the time went: a window after the first call, the second hundred may go.
    marks = {"first": 0, f"{args.limit}th": args.limit - 1, f"{args.limit + 1}st": args.limit, "last": len(at) - 1}
    shown = ", ".join(f"{name} +{at[i]:.1f} s" for name, i in marks.items() if 0 <= i < len(at))
    print(f"  upserts: {shown}; export read by +{ingested - started:.1f} s")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its children, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree = {root}
    for _ in range(3):  # the worker, its pool's processes
        tree |= {pid for pid, parent in parents.items() if parent in tree}
    return sum(used.get(pid, 0.0) for pid in tree)
