"""Backfills fanned out across time partitions with Prefect's Dask task runner.

A backfill of months of Intacct AR invoices splits ``[since, until)`` into partitions, and
each partition (read, record, send, page by page) is one task on the Dask cluster: a local
cluster by default, or an existing one through ``DASK_SCHEDULER_ADDRESS``. Partitions
overlap nothing, the ledger dedups anything read twice anyway, and the live cursor is never
touched. The same per-page functions as the scheduled flow do the work, so a backfill and a
poll cannot disagree about what a document becomes.
"""

import os
from datetime import datetime, timedelta

from prefect import flow, task
from prefect_dask import DaskTaskRunner

from ..connectors.errors import keep_our_pickling
from ..engine import Run, current_run_id
from ..engine.pages import record_page
from ..pipelines.intacct_sps import PIPELINE
from ..tasks.outbound import INTEGRATION, send_documents
from ..tasks.run_state import finish_run, run_name

keep_our_pickling()  # distributed (imported by prefect_dask) just installed tblib's reducers


def partitions(since: datetime, until: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` contiguous, non-overlapping windows covering ``[since, until)``."""
    if until <= since or count < 1:
        raise ValueError(f"empty backfill window [{since}, {until}) or partition count {count}")
    step = (until - since) / count
    edges = [since + step * n for n in range(count)] + [until]
    return [(edges[n], edges[n + 1]) for n in range(count) if edges[n + 1] > edges[n]]


@task(retries=2, retry_delay_seconds=5)
def backfill_window(tenant: str, since: datetime, until: datetime, run_id: str, page_size: int = 500) -> int:
    """Read, record and send one partition's AR invoices; returns how many were read.

    The partition is read by the scheduled flow's own pipeline (pipelines/intacct_sps.py): a
    page that does not follow from the previous one restarts the partition's listing (a task
    retry restarts it too). Invoices read twice are ledger duplicates and counted once here."""
    part = Run(tenant, PIPELINE.name, run_id, since=since, until=until, page_size=page_size)
    read: set[str] = set()
    for page in PIPELINE.read(part, None):
        recorded = record_page.fn(PIPELINE, part, page)
        if recorded.new_ids:
            send_documents.fn(tenant, recorded.new_ids, run_id)
        read.update(inv.record_no for inv in page.items)
    return len(read)


def _runner() -> DaskTaskRunner:
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return DaskTaskRunner(address=address)
    # Threads, not processes, by default: the work is I/O-bound, and threads share the
    # process's Prefect settings and connection pools.
    return DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 4, "processes": False,
                                          "dashboard_address": None})


@flow(name="backfill-intacct-to-sps", task_runner=_runner(), flow_run_name=run_name(INTEGRATION))
def backfill_intacct_to_sps(tenant: str = "demo", since: datetime | None = None, until: datetime | None = None,
                            partition_count: int = 4, page_size: int = 500):
    """Send every AR invoice modified in ``[since, until)``, partitions in parallel on Dask.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Window start (timezone-aware WHENMODIFIED); default 30 days before ``until``.
        until: Window end; default now.
        partition_count: Time partitions read in parallel.
        page_size: Intacct records read per page.
    """
    run_id = current_run_id()
    until = until or datetime.now().astimezone()
    since = since or until - timedelta(days=30)
    futures = [backfill_window.submit(tenant, a, b, run_id, page_size)
               for a, b in partitions(since, until, partition_count)]
    read = sum(f.result() for f in futures)
    return finish_run(tenant, INTEGRATION, run_id, extra={"partitions": len(futures), "read_by_partitions": read})
