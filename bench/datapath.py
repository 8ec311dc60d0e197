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
import atexit
import os
import shutil
import tempfile
import uuid


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
        work = tempfile.mkdtemp(prefix="herochecklist-datapath-")
        atexit.register(shutil.rmtree, work, ignore_errors=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{work}/datapath.sqlite3"
    # The environment above decides the database, so the measuring module (which configures Django when imported)
    # comes only now.
    from bench.datapath_run import measure

    measure(args, run)


if __name__ == "__main__":
    main()
