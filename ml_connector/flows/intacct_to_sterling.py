"""Sage Intacct -> IBM Sterling B2Bi: vendors as trading partners; AP bills as X12 810 and
purchase orders as X12 850, delivered into each partner's Sterling Inbox.

One run: settle what a dead run left half-delivered, sync vendors to partners, then page
through bills and POs modified since their cursors (minus an overlap window; the ledger makes
the overlap harmless), record them, deliver the new ones, and deliver what earlier runs left
received. Cursors move only after the whole listing is durable, as in intacct_to_sps.

``read_page`` does readMore and then the line ``read`` in one retried task, so a retry after a
failed line read resends a readMore Intacct already answered and gets the page after it. The
listing goes through connectors/intacct/listing.py: a page whose ``numremaining`` does not
follow from the previous one restarts the listing (re-read rows are ledger duplicates); after
three restarts the run fails with the cursor unmoved.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prefect import flow, get_run_logger
from prefect.states import State

from ..connectors.intacct.listing import read_listing
from ..ledger.x12_controls import ack_counts
from ..settings import intent_lease_seconds
from ..tasks.ops import finished_runs
from ..runtime.tenant import tenant as tenant_resources
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..tasks.sterling import (
    INTEGRATION, SOURCES, deliver_documents, ingest_records, read_page, resolve_deliveries, settings_of, sync_partners,
)
from ..engine import current_run_id

OVERLAP = timedelta(minutes=5)
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@flow(name="intacct-to-sterling", flow_run_name=run_name(INTEGRATION))
def intacct_to_sterling(tenant: str = "demo", since: datetime | None = None, until: datetime | None = None,
                        page_size: int = 500) -> State:
    """Sync vendors to Sterling partners and deliver AP bills (810) and POs (850) as X12.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this WHENMODIFIED (timezone-aware); leaves the live cursors alone.
        until: Backfill up to this WHENMODIFIED.
        page_size: Intacct records read per page.
    """
    run_id = current_run_id()
    res = tenant_resources(tenant)
    settings = settings_of(res)
    retried = replay_earlier_attempts(tenant, INTEGRATION, run_id)
    resolved = resolve_deliveries(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()))
    partners = sync_partners(tenant, run_id)
    kinds = [k for k, on in (("810", settings.send_bills), ("850", settings.send_purchase_orders)) if on]
    for doc_type in kinds:
        _deliver_modified(tenant, doc_type, since, until, page_size, run_id)
    after = 0
    while ids := res.ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        deliver_documents(tenant, ids, run_id)
        after = ids[-1]
    acks = {f"ack_{k}": v for k, v in ack_counts(res.ledger).items()}
    return finish_run(tenant, INTEGRATION, run_id, extra={**resolved, **partners, **acks, "retried": retried})


def _deliver_modified(tenant: str, doc_type: str, since, until, page_size: int, run_id: str) -> None:
    ledger = tenant_resources(tenant).ledger
    cursor_name = f"whenmodified-{doc_type}"
    backfill = since is not None or until is not None
    stored = ledger.get_cursor(INTEGRATION, cursor_name)
    start = since or (datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH)
    high = None
    what = f"{SOURCES[doc_type][0]} listing since {start.isoformat()}"
    for page in read_listing(lambda result_id: read_page(tenant, doc_type, start, until, result_id, page_size),
                             lambda page: len(page.records), what=what, logger=get_run_logger()):
        report = ingest_records(tenant, doc_type, page.records, run_id)
        if report.new_ids:
            deliver_documents(tenant, report.new_ids, run_id)
        if report.max_modified and (high is None or report.max_modified > high):
            high = report.max_modified
    if high is not None and not backfill:
        ledger.set_cursor(INTEGRATION, high.isoformat(), cursor_name)
