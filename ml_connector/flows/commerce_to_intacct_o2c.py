"""Adobe Commerce -> Sage Intacct, order to cash.

One run:

1. settle what a dead run left between intent and outcome (looked up in Intacct);
2. read each Commerce kind's changes into the ledger, in dependency order (products, customers,
   orders, invoices, shipments, credit memos), each page recorded before its cursor is stored;
3. post everything received, type by type: items (SKU -> ITEMID), customers, AR invoices (one
   per order that reached ``processing``), payments applied to those invoices, inventory
   transactions for shipments, AR adjustments for credit memos. Each transaction posts in the
   session of the Intacct entity its store maps to; a document that maps to no entity is
   quarantined with the reason, never posted at the top level. A payment or credit memo whose AR
   invoice is not in Intacct yet waits in the ledger (received, ``waiting``) and posts in the
   run that finds its invoice;
4. the customer master both ways (Intacct-created customers to Commerce, the conflict rule,
   credit limits to B2B company credit);
5. the Intacct invoice key written back to each order as an order comment;
6. the run report (table artifact) from the ledger's events of this run.

A backfill (``since``/``until``, Commerce ``updated_at``) reads that window and leaves the live
cursors alone; ``dry_run`` reads and maps, writing nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import flow, get_run_logger
from prefect.states import State

from ..settings import intent_lease_seconds
from ..tasks.commerce_o2c import FOLLOWUPS, INTEGRATION, KINDS, dry_run_changes, ingest_changes
from ..tasks.commerce_o2c_customers import sync_customers
from ..tasks.commerce_o2c_post import ENVELOPE, post_pending, resolve_intents
from ..tasks.commerce_o2c_writeback import write_back_invoice_keys
from ..tasks.ops import finished_runs
from ..tasks.run_state import finish_run, replay_earlier_attempts, run_name
from ..engine import current_run_id


@flow(name="commerce-to-intacct-o2c", flow_run_name=run_name(INTEGRATION))
def commerce_to_intacct_o2c(
    tenant: str = "demo-commerce",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 100,
    envelope_size: int = ENVELOPE,
) -> State | dict:
    """Adobe Commerce orders, payments, customers, products, shipments and refunds -> Intacct AR.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (Commerce updated_at, timezone-aware); leaves the live cursors alone.
        until: Backfill window end.
        dry_run: Read and map, write nothing.
        page_size: Commerce records read per page.
        envelope_size: Intacct functions per request.
    """
    run_id = current_run_id()
    if dry_run:
        tally = {kind: dry_run_changes(tenant, kind, page_size) for kind in KINDS}
        get_run_logger().info("dry run for %s: %s", tenant, tally)
        return tally
    retried = replay_earlier_attempts(tenant, INTEGRATION, run_id)
    resolved = resolve_intents(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                               lease=timedelta(seconds=intent_lease_seconds()))
    not_yet, changed = 0, []
    for kind in KINDS:
        report = ingest_changes(tenant, kind, run_id, since, until, page_size)
        not_yet += report.not_yet
        changed += report.changed_customers
    posted = post_pending(tenant, run_id, envelope_size)
    customers = sync_customers(tenant, run_id, changed)
    written = write_back_invoice_keys(tenant, run_id, finished_runs(tenant, FOLLOWUPS, run_id),
                                      lease=timedelta(seconds=intent_lease_seconds()))
    extra = {**resolved, "waiting": posted.get("waiting", 0), "not_yet_documents": not_yet, "retried": retried,
             **{k: v for k, v in customers.items() if v}, **written}
    return finish_run(tenant, INTEGRATION, run_id, extra=extra)
