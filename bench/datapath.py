"""
bench/datapath: the checklist data path in process (no web server, no HTTP): what a read and a PATCH cost in the
database layer, and on MongoDB how many commands each sends (pymongo command monitoring).

  read (two queries)   the checklist, then its items (the read before session 5)
  read (one trip)      selectors.checklist_with_item_rows: one SQL join / one $lookup aggregate
  patch                services.item_update of one item's status (a versioned transaction)

The two reads run in alternating rounds in the same process, so their ratio holds on a machine whose speed drifts.

    python -m bench.datapath                                         # SQLite, a fresh file in a temp directory
    DATABASE_URL='mongodb://127.0.0.1:27017/x?directConnection=true' python -m bench.datapath   # a fresh database
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid

from pymongo import monitoring


class _Commands(monitoring.CommandListener):
    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def _per_call_us(fn, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--reads", type=int, default=500, help="reads per round and path")
    parser.add_argument("--patches", type=int, default=100, help="patches per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("mongodb"):
        base, _, query = url.partition("?")
        os.environ["DATABASE_URL"] = f"{base.rsplit('/', 1)[0]}/bench_datapath_{run}" + (f"?{query}" if query else "")
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/datapath.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "herochecklist.settings")
    import django

    listener = _Commands()
    monitoring.register(listener)  # for clients made from here on: the backend's is made at its first query
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from checklists import selectors, serializers, services
    from tenants.models import Tenant
    from tenants.types import IssueRef

    call_command("migrate", verbosity=0)
    tenant = Tenant(client_key=f"bench-{run}", base_url="https://bench.atlassian.net")
    tenant.set_shared_secret("bench-" + uuid.uuid4().hex)
    tenant.save()
    issue = IssueRef(id="10001", key="DEMO-1", project_id="10000", issue_type_id="10002")
    actor = services.Actor("557058:bench")
    text = "".join(f"- [ ] item {n} with **some** text\n" for n in range(args.items))
    services.checklist_replace_text(tenant=tenant, issue=issue, actor=actor, text=text)
    item_id = selectors.checklist_with_item_rows(tenant, issue.id)[1][0][0]
    statuses = iter(["done", "todo"] * (args.rounds * args.patches + 10))

    def two_queries():
        stored = selectors.checklist_for(tenant, issue.id)
        return serializers.checklist_json(stored, issue, selectors.checklist_item_rows(stored))

    def one_trip():
        checklist, rows = selectors.checklist_with_item_rows(tenant, issue.id)
        return serializers.checklist_json(checklist, issue, rows)

    def patch():
        services.item_update(tenant=tenant, issue=issue, actor=actor, item_id=item_id, data={"status": next(statuses)})

    assert two_queries() == one_trip()
    print(f"bench/datapath: {connection.vendor}, {args.items} items, {args.rounds} alternating rounds")
    if connection.vendor == "mongodb":
        for name, fn in (("read (two queries)", two_queries), ("read (one trip)", one_trip), ("patch", patch)):
            fn()
            listener.names.clear()
            fn()
            print(f"  {name:20} {len(listener.names)} commands: {', '.join(listener.names)}")
    old, new, writes = [], [], []
    for _ in range(args.rounds):
        old.append(_per_call_us(two_queries, args.reads))
        new.append(_per_call_us(one_trip, args.reads))
        writes.append(_per_call_us(patch, args.patches))
    ratios = sorted(o / n for o, n in zip(old, new, strict=True))
    print(f"  read (two queries)   {statistics.median(old):8.0f} us median of rounds")
    print(f"  read (one trip)      {statistics.median(new):8.0f} us median of rounds")
    print(f"  one trip speed-up    {statistics.median(ratios):.2f}x (by round {ratios[0]:.2f} to {ratios[-1]:.2f})")
    print(f"  patch                {statistics.median(writes):8.0f} us median of rounds")
    if connection.vendor == "mongodb":
        connection.connection.drop_database(connection.settings_dict["NAME"])


if __name__ == "__main__":
    main()
