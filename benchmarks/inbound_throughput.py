"""Inbound throughput: SPS -> Intacct through Prefect, on the sandbox served over real HTTP.

Prints documents per second for the deployed flow path (Prefect server, ledger, dedup,
batching), HTTP requests per posted document on each side, and Prefect task runs per 1,000
documents. Repeats the measurement and quotes the median, since this machine is shared and
noisy. ``--json`` prints the figures as one JSON object on the last line.

    .venv/bin/python benchmarks/inbound_throughput.py --documents 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure(documents: int, page_size: int, seed: int = 11) -> dict:
    """One measured run on a fresh sandbox and ledger. Needs a Prefect API (see main)."""
    from ml_connector.demo.sandboxes import Sandboxes, fresh_ledger
    from ml_connector.flows.sps_to_intacct import sps_to_intacct
    from ml_connector.mappings.tenant import load_tenant, tenant_path
    from ml_connector.runtime.tenant import reset
    from ml_connector.sandbox.intacct import IntacctEmulator
    from ml_connector.sandbox.seed import Seeded, seed_intacct_master, seed_sps_documents
    from ml_connector.sandbox.sps import SpsEmulator

    work = Path(tempfile.mkdtemp(prefix="mlc-bench-"))
    fresh_ledger(f"sqlite:///{work / 'ledger.db'}")
    mapping = load_tenant(tenant_path("demo"))
    with Sandboxes() as sandboxes:
        intacct, sps = sandboxes.add(IntacctEmulator()), sandboxes.add(SpsEmulator())
        try:
            seed_intacct_master(intacct, mapping)
            seeded = Seeded()
            seed_sps_documents(sps, mapping, documents, seed, 0.0, seeded)
            sandboxes.save_blocks("demo")
            intacct.requests = sps.requests = 0
            started = time.perf_counter()
            state = sps_to_intacct(tenant="demo", page_size=page_size, return_state=True)
            seconds = time.perf_counter() - started
            counts = state.result()
            task_runs = _task_runs(str(state.state_details.flow_run_id))
        finally:
            reset()
    posted = counts["posted"]
    return {
        "documents": documents,
        "posted": posted,
        "seconds": round(seconds, 3),
        "docs_per_second": round(posted / seconds, 1) if seconds else None,
        "intacct_requests_per_posted_doc": round(intacct.requests / posted, 4) if posted else None,
        "sps_requests_per_posted_doc": round(sps.requests / posted, 4) if posted else None,
        "prefect_task_runs_per_1000_docs": round(task_runs * 1000 / documents, 1),
        "missing": len(seeded.expected_bills) - len({(b["VENDORID"], b["RECORDID"]) for b in intacct.bills()}),
    }


def _task_runs(flow_run_id: str) -> int:
    """Task runs the server recorded for the run. Prefect 3 reports task states in batches
    (eventually consistent), so wait until the count stops growing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flt = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    last, stable_since = -1, time.monotonic()
    with get_client(sync_client=True) as client:
        while time.monotonic() - stable_since < 2.0:
            count = _count(client, flt)
            if count != last:
                last, stable_since = count, time.monotonic()
            time.sleep(0.25)
    return last


def _count(client, flt) -> int:
    total, offset = 0, 0
    while page := client.read_task_runs(flow_run_filter=flt, limit=200, offset=offset):
        total, offset = total + len(page), offset + len(page)
    return total


def summarize(runs: list[dict]) -> dict:
    """The median of each figure over the repeats, and the raw runs."""
    keys = ("docs_per_second", "seconds", "intacct_requests_per_posted_doc", "sps_requests_per_posted_doc",
            "prefect_task_runs_per_1000_docs")
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "documents": runs[0]["documents"],
            "repeats": len(runs), "missing": max(r["missing"] for r in runs), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-bench-home-")))
    with prefect_api():
        runs = [measure(args.documents, args.page_size, seed=11 + n) for n in range(args.repeat)]
    result = summarize(runs)
    print(f"SPS -> Intacct inbound, {args.documents} documents, page size {args.page_size}, "
          f"median of {args.repeat}:")
    print(f"  throughput                      {result['docs_per_second']:>10} documents/s")
    print(f"  Intacct requests / posted doc   {result['intacct_requests_per_posted_doc']:>10}")
    print(f"  SPS requests / posted doc       {result['sps_requests_per_posted_doc']:>10}")
    print(f"  Prefect task runs / 1,000 docs  {result['prefect_task_runs_per_1000_docs']:>10}")
    print(f"  missing after the run           {result['missing']:>10}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
