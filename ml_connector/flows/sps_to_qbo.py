"""SPS Commerce -> QuickBooks Online: RSX orders become QBO purchase orders.

The shape of sps_to_intacct: settle what a dead run left half-done, then page through SPS's
``out/``; each page is recorded in the ledger, posted (creates in QBO batches of 30, updates
of POs found by DocNumber with their current SyncToken), consumed from SPS, and only then is
the cursor stored. Invoices and shipments in the feed are recorded as skipped (routed nowhere
in this integration). Documents earlier runs left received are posted at the end.

A trading partner added to the tenant file without a QBO vendor is onboarded first (the
master-data sync, vendors only: its vendor is found by name or created, and the link recorded
in the ledger), so its orders post in this same run; with every partner linked that step sends
no request at all. Items, and vendors in full, are kept aligned by ``qbo-master-data``.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import flow
from prefect.states import State
from prefect.utilities.annotations import opaque

from ..settings import intent_lease_seconds
from ..tasks.ops import finished_runs
from ..tasks.qbo import INBOUND, ingest_orders, post_purchase_orders, resolve_po_intents
from ..tasks.qbo_master import sync_master_data
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..tasks.sps import consume_files, fetch_page
from ..engine import MAX_PAGES, current_run_id


@flow(name="sps-to-qbo", flow_run_name=run_name(INBOUND))
def sps_to_qbo(tenant: str = "demo-qbo", page_size: int = 500) -> State:
    """Poll SPS for RSX orders and create or update them in QBO as purchase orders.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        page_size: SPS files listed per page.
    """
    run_id = current_run_id()
    onboarded = sync_master_data(tenant, run_id, vendors_only_missing=True)
    retried = replay_earlier_attempts(tenant, INBOUND, run_id)
    resolved = resolve_po_intents(tenant, run_id, finished_runs(tenant, INBOUND, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    cursor, deferred = ledger.get_cursor(INBOUND), 0
    for _ in range(MAX_PAGES):
        page = fetch_page(tenant, cursor, page_size)
        deferred += len(page.deferred)
        # opaque: plain data holds no futures; walking 500 files per call looking for them
        # cost more than the tasks' own orchestration (see sps_to_intacct)
        report = ingest_orders(tenant, opaque(page), run_id)
        if report.new_ids:
            post_purchase_orders(tenant, opaque(report.new_ids), run_id)
        consume_files(tenant, opaque(report.consumed))
        ledger.set_cursor(INBOUND, page.next_cursor)  # page durable and consumed
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    after = 0
    while ids := ledger.pending_ids(INBOUND, limit=1000, after_id=after):
        post_purchase_orders(tenant, opaque(ids), run_id)
        after = ids[-1]
    return finish_run(tenant, INBOUND, run_id, extra={**resolved, "deferred_to_next_poll": deferred, "retried": retried,
                                                      **{f"vendors_{k}": v for k, v in onboarded.items() if v}})
