"""The raw pipelines: each flow's body line for line, calling the tasks' underlying functions
(``task.fn``) with no Prefect around them. They send the same HTTP requests and make the same
ledger writes as the flows (``suite.assert_same_work`` checks both on every repeat); only the
flow and task runs, the run logger and the report's artifact are missing. Keep each in step
with its flow when the flow changes."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta


def raw_sps_to_intacct(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_intacct.py::sps_to_intacct`` line for line, calling ``task.fn``: the same
    HTTP requests, mapping, ledger writes and batching. Only Prefect is missing: no flow or
    task runs, no run logger, and the report's artifact is not published (its ledger queries
    still run)."""
    from ml_connector.engine import MAX_PAGES
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.inbound import INTEGRATION, ingest_page
    from ml_connector.tasks.intacct import post_bills, resolve_intents
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.sps import consume_files, fetch_page

    run_id = f"raw-{uuid.uuid4()}"
    resolved = resolve_intents.fn(tenant, run_id, finished_runs.fn(tenant, INTEGRATION, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    cursor = ledger.get_cursor(INTEGRATION)
    deferred, consuming = 0, None
    # the flow's fetch_page.submit and consume_files.submit, each in a copy of the caller's context
    with ThreadPoolExecutor(max_workers=1) as prefetch, ThreadPoolExecutor(max_workers=1) as deletes:
        upcoming = prefetch.submit(contextvars.copy_context().run, fetch_page.fn, tenant, cursor, page_size)
        for _ in range(MAX_PAGES):
            page = upcoming.result()
            if page.next_cursor is not None:
                upcoming = prefetch.submit(contextvars.copy_context().run, fetch_page.fn, tenant, page.next_cursor,
                                           page_size)
            deferred += len(page.deferred)
            report = ingest_page.fn(tenant, page, run_id, None, None)
            if report.new_ids:
                post_bills.fn(tenant, report.new_ids, run_id, report.bills)
            if consuming is not None:
                consuming.result()
            consuming = deletes.submit(contextvars.copy_context().run, consume_files.fn, tenant, report.consumed)
            ledger.set_cursor(INTEGRATION, page.next_cursor)
            if page.next_cursor is None:
                break
        if consuming is not None:
            consuming.result()
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        post_bills.fn(tenant, ids, run_id)
        after = ids[-1]
    return raw_report(ledger, INTEGRATION, run_id, {**resolved, "deferred_to_next_poll": deferred})


def raw_intacct_to_sps(tenant: str, page_size: int = 500) -> dict:
    """``flows/intacct_to_sps.py::intacct_to_sps`` (live cursor, no window) calling ``task.fn``."""
    from ml_connector.engine import MAX_PAGES
    from ml_connector.pipelines.intacct_sps import CURSOR, EPOCH, OVERLAP
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.outbound import INTEGRATION, queue_orderacks, requeue_stale_uploads, send_documents

    run_id = f"raw-{uuid.uuid4()}"
    ledger = tenant_resources(tenant).ledger
    stored = ledger.get_cursor(INTEGRATION, CURSOR)
    start = datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH
    recovered = requeue_stale_uploads.fn(tenant, run_id, finished_runs.fn(tenant, INTEGRATION, run_id),
                                         lease=timedelta(seconds=intent_lease_seconds()))
    high = _send_ar_listing(tenant, start, page_size, run_id)
    if high is not None:
        ledger.set_cursor(INTEGRATION, high.isoformat(), CURSOR)
    for _ in range(MAX_PAGES):
        ack_ids = queue_orderacks.fn(tenant, run_id)
        if not ack_ids:
            break
        send_documents.fn(tenant, ack_ids, run_id)
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        send_documents.fn(tenant, ids, run_id)
        after = ids[-1]
    return raw_report(ledger, INTEGRATION, run_id, {"recovered_intents": recovered})


def _send_ar_listing(tenant: str, start: datetime, page_size: int, run_id: str) -> datetime | None:
    """``flows/intacct_to_sps.py::_send_listing``: the same shared paginator (``read_listing``,
    whose continuity guard restarts the listing on a gap), reading pages with ``read_ar_page.fn``."""
    from ml_connector.connectors.intacct.listing import LISTING_RESTARTS, read_listing
    from ml_connector.tasks.intacct import read_ar_page
    from ml_connector.tasks.outbound import ingest_ar_invoices, send_documents

    high = None
    pages = read_listing(lambda result_id: read_ar_page.fn(tenant, start, None, result_id, page_size),
                         lambda page: len(page.invoices), what=f"AR invoice listing since {start.isoformat()}",
                         restarts=LISTING_RESTARTS)
    for page in pages:
        report = ingest_ar_invoices.fn(tenant, page.invoices, run_id)
        if report.new_ids:
            send_documents.fn(tenant, report.new_ids, run_id)
        if report.max_modified and (high is None or report.max_modified > high):
            high = report.max_modified
    return high


def raw_sps_to_qbo(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_qbo.py::sps_to_qbo``: the engine's steps over ``pipelines/sps_qbo.py``
    line for line, calling ``task.fn`` (the onboarding step, recovery, the page loop, the drain)."""
    from ml_connector.engine import MAX_PAGES, Page, Run
    from ml_connector.engine.pages import record_page
    from ml_connector.engine.recovery import recover_intents
    from ml_connector.pipelines import qbo_master
    from ml_connector.pipelines.sps_qbo import PIPELINE
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.qbo_master import sync_master_data
    from ml_connector.tasks.sps import fetch_page

    run = Run(tenant, PIPELINE.name, f"raw-{uuid.uuid4()}", page_size=page_size)
    resolved = recover_intents.fn(PIPELINE, run, finished_runs.fn(tenant, PIPELINE.name, run.run_id))
    master = Run(tenant, qbo_master.PIPELINE.name, run.run_id)
    recover_intents.fn(qbo_master.PIPELINE, master, finished_runs.fn(tenant, master.integration, run.run_id))
    onboarded = sync_master_data.fn(tenant, run.run_id, vendors_only_missing=True)
    ledger = run.ledger
    cursor, deferred = ledger.get_cursor(PIPELINE.name), 0
    for _ in range(MAX_PAGES):
        page = fetch_page.fn(tenant, cursor, page_size)
        deferred += len(page.deferred)
        recorded = record_page.fn(PIPELINE, run, Page(page))
        if recorded.new_ids:
            PIPELINE.post.fn(tenant, recorded.new_ids, run.run_id, recorded.payloads)
        PIPELINE.settle.fn(tenant, recorded.settle)
        ledger.set_cursor(PIPELINE.name, page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    after = 0
    while ids := ledger.pending_ids(PIPELINE.name, limit=1000, after_id=after):
        PIPELINE.post.fn(tenant, ids, run.run_id)
        after = ids[-1]
    return raw_report(ledger, PIPELINE.name, run.run_id, {**resolved, "deferred_to_next_poll": deferred,
                                                           **{f"vendors_{k}": v for k, v in onboarded.items() if v}})


def raw_report(ledger, integration: str, run_id: str, extra: dict) -> dict:
    """``publish_report``'s ledger work, without the Prefect artifact."""
    counts = ledger.run_counts(integration, run_id)
    ledger.run_failures(integration, run_id)
    return {**counts, **extra}
