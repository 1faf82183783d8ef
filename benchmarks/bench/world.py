"""One measurement's setup and record: a fresh sandbox world (seeded emulators, a new ledger,
the blocks pointing at them, no cached clients), the figures of one run, and the Prefect task
runs the server recorded for it."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from . import QBO_TENANT, TENANT
from .emulator_host import EmulatorHost


def fresh_world(host: EmulatorHost, work: Path, **world_args) -> dict:
    """New emulators (seeded), a new ledger file, the blocks pointing at them, no cached
    clients or Intacct sessions: every measured path starts from the same cold state."""
    from ml_connector.demo.sandboxes import fresh_ledger, save_credentials

    world = host.call("world", **world_args)
    fresh_ledger(f"sqlite:///{work / f'ledger-{uuid.uuid4().hex[:8]}.db'}")
    if world_args.get("target") == "qbo":
        save_credentials(QBO_TENANT, {"sps": world["sps"], "qbo": world["qbo"]})
    else:
        save_credentials(TENANT, {"intacct": world["intacct"], "sps": world["sps"]})
    world["ledger_url"] = os.environ["ML_CONNECTOR_LEDGER_URL"]
    return world


def finish(host: EmulatorHost, name: str, documents: int, seconds: float, counts: dict, world: dict,
           task_runs: int | None = None, cpu_seconds: float | None = None) -> dict:
    """The record of one timed run: throughput, the emulators' request counts per posted
    document, what is missing or duplicated in the target, and the ledger's counts."""
    from ml_connector.runtime.tenant import reset

    reset()
    stats = host.call("stats")
    posted = counts.get("posted", 0)
    out = {
        "path": name,
        "documents": documents,
        "posted": posted,
        "seconds": round(seconds, 3),
        "docs_per_second": round(posted / seconds, 2) if seconds and posted else 0.0,
        "cpu_seconds": round(cpu_seconds, 3) if cpu_seconds is not None else None,
        "docs_per_cpu_second": round(posted / cpu_seconds, 2) if cpu_seconds and posted else None,
        "counts": {k: v for k, v in counts.items() if isinstance(v, int)},
        "intacct_requests": stats["intacct_requests"],
        "qbo_requests": stats["qbo_requests"],
        "sps_requests": stats["sps_requests"],
        "intacct_requests_per_posted_doc": round(stats["intacct_requests"] / posted, 5) if posted else None,
        "qbo_requests_per_posted_doc": round(stats["qbo_requests"] / posted, 5) if posted else None,
        "sps_requests_per_posted_doc": round(stats["sps_requests"] / posted, 5) if posted else None,
        "bills_missing": stats["bills_missing"] if world.get("expected_bills") or world.get("expected_pos") else 0,
        "bills_duplicated": stats["bills_duplicated"],
        "sps_out_left": stats["sps_out_left"],
        "sps_in": stats["sps_in"],
    }
    if task_runs is not None:
        out["prefect_task_runs"] = task_runs
        out["prefect_task_runs_per_1000_docs"] = round(task_runs * 1000 / documents, 2)
    return out


SETTLE_SECONDS = {"value": 3.0}  # how long the task-run count must hold still (shorter in --quick)


def count_task_runs(flow_run_id: str, settle: float | None = None, timeout: float = 120.0) -> int:
    """Task runs the Prefect server recorded for one flow run, paging 200 at a time. Prefect 3
    reports task runs eventually (through events), so poll until the count has not changed
    for ``settle`` seconds."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    settle = SETTLE_SECONDS["value"] if settle is None else settle
    flt = FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
    last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() - stable_since < settle and time.monotonic() < deadline:
            total, offset = 0, 0
            while page := client.read_task_runs(flow_run_filter=flt, limit=200, offset=offset):
                total, offset = total + len(page), offset + len(page)
            if total != last:
                last, stable_since = total, time.monotonic()
            time.sleep(0.25)
    return last
