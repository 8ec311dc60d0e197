"""bench/datapath's measurement, imported once bench/datapath.py has set the environment (the database to use):
pymongo's command listener is registered first, then Django is configured, then our apps are imported."""

import argparse
import statistics
import time
import uuid

from pymongo import monitoring

from devhost.mongo_commands import CommandNames

listener = CommandNames()
monitoring.register(listener)  # for clients made from here on: the backend's is made at its first query

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

import bench.django_setup  # noqa: E402, F401 (after the listener: configures Django before our apps are imported)
from checklists import selectors, serializers, services  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.types import IssueRef  # noqa: E402


def _per_call_us(fn, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - start) / count * 1e6


def measure(args: argparse.Namespace, run: str) -> None:
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
